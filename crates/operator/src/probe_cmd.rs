//! `azop probe URL`: one HTTP GET, exit 0 on a 2xx answer. The image has no shell and no
//! curl, so the chart's `helm test` pod (and a container HEALTHCHECK) run the binary itself.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context as _, bail};

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// Plain-HTTP URL to GET, for example http://azop-metrics.azop-system.svc:8080/readyz.
    url: url::Url,
    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5)]
    timeout_seconds: u64,
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let status = get(&args.url, Duration::from_secs(args.timeout_seconds))?;
    if !(200..300).contains(&status) {
        bail!("GET {} answered HTTP {status}", args.url);
    }
    println!("GET {}: HTTP {status}", args.url);
    Ok(())
}

/// Sends the GET and returns the status code of the answer.
fn get(url: &url::Url, timeout: Duration) -> anyhow::Result<u16> {
    if url.scheme() != "http" {
        bail!("{url}: only http:// URLs can be probed (the metrics server speaks plain HTTP)");
    }
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("failed to resolve {host}:{port}"))?
        .next()
        .with_context(|| format!("{host}:{port} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("failed to connect to {host}:{port} ({addr})"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    // One write: `write!` on a socket sends each formatted piece on its own, and a server
    // that answers after its first read would then reset the connection under our reply.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: azop-probe\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("failed to send the request to {addr}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    // The status line is all that is needed.
    while !head.contains(&b'\n') {
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("failed to read the answer from {addr}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .with_context(|| format!("{addr} did not answer HTTP: {line:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // The whole request first, as an HTTP server reads it: answering and closing with
            // unread bytes makes the kernel reset the connection.
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(answer.as_bytes()).unwrap();
        });
        port
    }

    #[test]
    fn a_2xx_answer_passes_and_others_fail() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        let url = url::Url::parse(&format!("http://127.0.0.1:{ok}/readyz")).unwrap();
        assert!(
            run(&ProbeArgs {
                url,
                timeout_seconds: 2
            })
            .is_ok()
        );

        let starting = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\nstarting");
        let url = url::Url::parse(&format!("http://127.0.0.1:{starting}/readyz")).unwrap();
        let err = run(&ProbeArgs {
            url,
            timeout_seconds: 2,
        })
        .unwrap_err();
        assert!(err.to_string().contains("HTTP 503"), "{err}");
    }

    #[test]
    fn nothing_listening_fails_with_the_address() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
        let err = run(&ProbeArgs {
            url,
            timeout_seconds: 1,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("failed to connect"), "{err:#}");
    }
}
