//! A minimal HTTP/1.1 GET, for `rampart status` and `rampart health`: a replica's HTTP
//! endpoints, read with nothing but the standard library (the container image has no curl),
//! bounded in time and in size.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::address::HostPort;

/// The largest answer read.
const ANSWER_BYTES_MAX: usize = 1 << 20;

/// What a server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// An `http://host:port/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub address: HostPort,
    pub path: String,
}

impl std::str::FromStr for Url {
    type Err = String;

    fn from_str(text: &str) -> Result<Url, String> {
        let rest = text.strip_prefix("http://").ok_or_else(|| {
            format!("{text:?} is not an http:// URL; write it as http://127.0.0.1:9100/health")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let address = if authority.contains(':') && !authority.ends_with(']') {
            authority.parse::<HostPort>()
        } else {
            format!("{authority}:80").parse::<HostPort>()
        }
        .map_err(|error| format!("the host of {text:?}: {error}"))?;
        Ok(Url {
            address,
            path: path.to_string(),
        })
    }
}

/// GETs `path` from `address`, within `timeout` altogether.
pub fn get(address: &HostPort, path: &str, timeout: Duration) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    let targets: Vec<_> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {address}: {error}"))?
        .collect();
    let mut last_error = format!("{address} has no addresses");
    let mut stream = None;
    for target in targets {
        match TcpStream::connect_timeout(&target, remaining(deadline)?) {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(error) => last_error = format!("cannot connect to {address}: {error}"),
        }
    }
    let mut stream = stream.ok_or(last_error)?;
    let failed = |error: std::io::Error| format!("{address}: {error}");
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(failed)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: rampart\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(failed)?;
        let read = match stream.read(&mut buffer) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("{address} did not answer within {timeout:?}"));
            }
            Err(error) => return Err(failed(error)),
        };
        if read == 0 {
            break;
        }
        if answer.len() + read > ANSWER_BYTES_MAX {
            return Err(format!(
                "{address} answered more than {ANSWER_BYTES_MAX} bytes"
            ));
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    parse(&answer).ok_or_else(|| format!("{address} did not answer in HTTP"))
}

/// The time left before `deadline`, or an error once it passed.
fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("timed out".to_string());
    }
    Ok(left)
}

/// The status and the body of an HTTP/1.x answer read to its end.
fn parse(answer: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = match text.find("\r\n\r\n") {
        Some(end) => (&text[..end], &text[end + 4..]),
        None => (text.as_ref(), ""),
    };
    let status_line = head.lines().next()?;
    let mut words = status_line.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some(Answer {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_host_a_port_and_a_path() {
        let url: Url = "http://127.0.0.1:9100/health".parse().expect("valid");
        assert_eq!(url.address.to_string(), "127.0.0.1:9100");
        assert_eq!(url.path, "/health");
        let url: Url = "http://replica-0".parse().expect("valid");
        assert_eq!(
            (url.address.to_string(), url.path),
            ("replica-0:80".into(), "/".into())
        );
        let url: Url = "http://[::1]:9100/ready".parse().expect("valid");
        assert_eq!(url.address.to_string(), "[::1]:9100");
        for bad in [
            "https://a:1/",
            "127.0.0.1:9100/health",
            "http://a b:1/",
            "http://a:x/",
        ] {
            assert!(bad.parse::<Url>().is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_parsed_into_status_and_body() {
        let answer = parse(b"HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\nnot ready\n");
        assert_eq!(
            answer,
            Some(Answer {
                status: 503,
                body: "not ready\n".to_string()
            })
        );
        assert_eq!(parse(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[test]
    fn nobody_listening_is_an_error_not_a_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let address = HostPort::new("127.0.0.1", port);
        let error = get(&address, "/", Duration::from_secs(10)).expect_err("refused");
        assert!(error.contains("cannot connect"), "{error}");
    }
}
