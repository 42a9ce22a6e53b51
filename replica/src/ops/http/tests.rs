use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

async fn server(limits: HttpLimits) -> HttpServer {
    let handler: Handler = Arc::new(|path: &str| match path {
        "/hello" => Response::text(200, "hello\n"),
        _ => Response::text(404, "not found\n"),
    });
    HttpServer::bind("127.0.0.1:0".parse().expect("address"), limits, handler)
        .await
        .expect("binds")
}

/// Sends `request` and reads until the server closes the connection.
async fn exchange(server: &HttpServer, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    stream.write_all(request).await.expect("writes");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn paths_are_answered_and_everything_else_refused_with_a_status() {
    let server = server(HttpLimits::default()).await;
    let ok = exchange(&server, b"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("Content-Length: 6\r\n") && ok.ends_with("\r\n\r\nhello\n"),
        "{ok}"
    );
    let head = exchange(&server, b"HEAD /hello HTTP/1.0\n\n").await;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    for (request, status) in [
        (&b"GET /nothing HTTP/1.1\r\n\r\n"[..], "404"),
        (b"POST /hello HTTP/1.1\r\n\r\n", "405"),
        (
            b"GET /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "413",
        ),
        (b"GET hello HTTP/1.1\r\n\r\n", "400"),
        (b"\xff\xfe\r\n\r\n", "400"),
    ] {
        let answer = exchange(&server, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {answer}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_head_over_the_cap_is_refused_unread() {
    let limits = HttpLimits {
        request_head_bytes_max: 256,
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let mut request = b"GET /hello HTTP/1.1\r\nX-Filler: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 4096));
    request.extend_from_slice(b"\r\n\r\n");
    let answer = exchange(&server, &request).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_dropped_after_the_read_timeout() {
    let limits = HttpLimits {
        read_timeout: Duration::from_millis(50),
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    stream.write_all(b"GET /hello HTT").await.expect("writes");
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "no answer to half a request: {read:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_served_again_once_others_end() {
    let limits = HttpLimits {
        connections_max: 2,
        read_timeout: Duration::from_secs(60),
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connects");
        stream.write_all(b"GET /hello").await.expect("writes");
        idle.push(stream);
    }
    // The server takes connections in order: the third finds both places taken.
    let refused = exchange(&server, b"GET /hello HTTP/1.1\r\n\r\n").await;
    assert_eq!(refused, "", "closed without an answer");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = exchange(&server, b"GET /hello HTTP/1.1\r\n\r\n").await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
