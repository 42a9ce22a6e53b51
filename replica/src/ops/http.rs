//! A small HTTP/1.1 server for the operations endpoints: GET (and HEAD) of a path, one
//! request per connection, answered and closed.
//!
//! Anyone who can reach the address can connect, so what a connection may cost is bounded:
//! a cap on connections served at once (more are closed at once), a cap on the request's
//! head (bodies are refused), a deadline to send the head and one to take the answer. No
//! input is echoed back, and nothing a client sends is kept beyond its connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What one client of the operations endpoints may hold of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub connections_max: usize,
    /// The largest request head (request line and headers) read.
    pub request_head_bytes_max: usize,
    /// How long a client may take to send its request head.
    pub read_timeout: Duration,
    /// How long a client may take to receive the answer.
    pub write_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            connections_max: 16,
            request_head_bytes_max: 8 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Answers a path; runs on a blocking thread, so it may read files.
pub type Handler = Arc<dyn Fn(&str) -> Response + Send + Sync>;

/// A running server; it stops when dropped or shut down.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `listen` and serves `handler` on the current tokio runtime.
    pub async fn bind(
        listen: SocketAddr,
        limits: HttpLimits,
        handler: Handler,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, limits, handler));
        Ok(HttpServer {
            local_addr,
            task: Some(task),
        })
    }

    /// The address it listens on, with the real port when `listen` had port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and drops every connection in progress.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, limits: HttpLimits, handler: Handler) {
    // Dropped with this task, which aborts every connection's task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if connections.len() >= limits.connections_max {
                        tracing::debug!(%remote, "operations endpoint: too many connections; closed");
                        drop(stream);
                        continue;
                    }
                    connections.spawn(serve(stream, limits, handler.clone()));
                }
                Err(error) => {
                    // Out of file descriptors, most often: wait rather than spin.
                    tracing::debug!(%error, "operations endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What a request head asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Get { path: String, head_only: bool },
    Refused(u16),
}

async fn serve(mut stream: TcpStream, limits: HttpLimits, handler: Handler) {
    let head = match tokio::time::timeout(
        limits.read_timeout,
        read_head(&mut stream, limits.request_head_bytes_max),
    )
    .await
    {
        Ok(Ok(head)) => head,
        // Too slow, or gone: nothing to answer.
        Err(_) | Ok(Err(_)) => return,
    };
    let (response, head_only) = match head.map_or(Request::Refused(431), |head| parse(&head)) {
        Request::Get { path, head_only } => {
            let answer = tokio::task::spawn_blocking(move || handler(&path)).await;
            let response = answer.unwrap_or_else(|_| Response::text(500, "the handler failed\n"));
            (response, head_only)
        }
        Request::Refused(status) => (
            Response::text(status, format!("{}\n", reason(status))),
            false,
        ),
    };
    let _ = tokio::time::timeout(
        limits.write_timeout,
        write_response(&mut stream, &response, head_only),
    )
    .await;
}

/// Reads up to the blank line that ends a request head. `Ok(None)`: the head is longer than
/// `max` bytes.
async fn read_head(stream: &mut TcpStream, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512.min(max));
    let mut buffer = [0u8; 1024];
    loop {
        let room = (max - head.len()).min(buffer.len());
        if room == 0 {
            return Ok(None);
        }
        let read = stream.read(&mut buffer[..room]).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&buffer[..read]);
        if let Some(end) = find_end(&head[searched_from..]) {
            head.truncate(searched_from + end);
            return Ok(Some(head));
        }
    }
}

/// Where a request head ends: after `\r\n\r\n`, or `\n\n` from lenient clients.
fn find_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else {
        return Request::Refused(400);
    };
    let mut lines = text.lines();
    let mut words = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Request::Refused(400);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Request::Refused(400);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::Refused(405),
    };
    let has_body = lines.any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:")
            || line
                .strip_prefix("content-length:")
                .is_some_and(|length| length.trim() != "0")
    });
    if has_body {
        return Request::Refused(413);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Request::Get {
        path: path.to_string(),
        head_only,
    }
}

async fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: \
         no-store\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if response.status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(&response.body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests;
