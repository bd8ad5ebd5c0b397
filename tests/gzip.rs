//! `/metrics` with and without gzip, from the binary: the agent runs
//! checks that all ran once and will not run again during the test (a
//! stable state), and is scraped the way Prometheus does
//! (`Accept-Encoding: gzip`) and the way curl does (no header). The two
//! bodies must be the same exposition; the headers say which coding was
//! used; `gzip;q=0` gets the plain text; HEAD and errors are as without gzip.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use test_support::agent::Agent;
use test_support::net::free_port;

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

/// Checks against a closed port (each fails at once, `connect_refused`),
/// each running once at start and then not for an hour. With 400 of them
/// the body is several chunks long.
fn stable_config(dir: &std::path::Path, checks: usize) -> std::path::PathBuf {
    let port = free_port();
    let mut yaml = String::from("global:\n  interval: 1h\n  timeout: 5s\nchecks:\n");
    for i in 0..checks {
        yaml.push_str(&format!("  - name: closed-{i:04}\n    kind: tcp\n    target: 127.0.0.1:{port}\n"));
    }
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// One raw HTTP/1.1 answer.
struct Answer {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    /// The body with chunked transfer encoding removed (bytes: it may be gzip).
    body: Vec<u8>,
    /// Chunks of the transfer encoding (0 when not chunked).
    transfer_chunks: usize,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn gunzip(&self) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(self.body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

/// `method path` with the extra header lines (each ending in CRLF).
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers") + 4;
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut rest = &raw[end..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if !chunked {
        return Answer {
            status,
            headers,
            body: rest.to_vec(),
            transfer_chunks: 0,
        };
    }
    let mut body = Vec::new();
    let mut transfer_chunks = 0;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        transfer_chunks += 1;
        body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        assert_eq!(&rest[eol + 2 + size..eol + 4 + size], b"\r\n");
        rest = &rest[eol + 4 + size..];
    }
    Answer {
        status,
        headers,
        body,
        transfer_chunks,
    }
}

/// The series (name and labels) of an exposition, sorted, with the TYPE and
/// HELP lines; values left out.
fn series(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                l
            } else {
                l.rsplit_once(' ').map_or(l, |(s, _)| s)
            }
        })
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_the_same_exposition_with_and_without_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(BIN, &stable_config(dir.path(), 400), &[]);
    agent.wait_ready().await;

    // As curl does: no Accept-Encoding.
    let plain = request(agent.addr, "GET", "/metrics", "").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert_eq!(plain.header("content-length"), None, "streamed");
    assert!(plain.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    let plain_text = plain.text();
    assert!(plain_text.ends_with("# EOF\n"));
    assert_eq!(plain_text.matches("ece_o365_check_success{").count(), 400);

    // As Prometheus does.
    let gzip = request(agent.addr, "GET", "/metrics", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(gzip.status, 200);
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gzip.header("vary"), Some("Accept-Encoding"));
    assert_eq!(gzip.header("content-length"), None, "streamed");
    assert_eq!(gzip.header("transfer-encoding"), Some("chunked"));
    assert_eq!(gzip.header("content-type"), plain.header("content-type"));
    // Several chunks of the body, each compressed and sent on its own.
    assert!(gzip.transfer_chunks > 2, "{} transfer chunks", gzip.transfer_chunks);
    assert!(
        gzip.body.len() * 5 < plain.body.len(),
        "{} of {}",
        gzip.body.len(),
        plain.body.len()
    );
    let gzip_text = gzip.gunzip();
    // Nothing ran between the two scrapes: the same bytes. The series set
    // is compared first, so that a failure says what differs.
    assert_eq!(series(&gzip_text), series(&plain_text));
    assert_eq!(gzip_text, plain_text);

    // Refused by weight: plain text.
    for header in [
        "gzip;q=0",
        "GZIP; Q=0.000, identity",
        "br, zstd",
        "identity",
        "gzip;q=0.5, identity;q=1",
    ] {
        let a = request(agent.addr, "GET", "/metrics", &format!("Accept-Encoding: {header}\r\n")).await;
        assert_eq!(a.header("content-encoding"), None, "{header}");
        assert_eq!(a.text(), plain_text, "{header}");
    }
    // Accepted in other spellings.
    for header in ["x-gzip", "*", "deflate, gzip;q=0.8", "Gzip;q=1.0"] {
        let a = request(agent.addr, "GET", "/metrics", &format!("Accept-Encoding: {header}\r\n")).await;
        assert_eq!(a.header("content-encoding"), Some("gzip"), "{header}");
        assert_eq!(a.gunzip(), plain_text, "{header}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn head_and_errors_are_as_without_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(BIN, &stable_config(dir.path(), 1), &[]);
    agent.wait_ready().await;
    let gzip = "Accept-Encoding: gzip\r\n";

    // HEAD: the headers a GET would get, no body.
    for (header, encoding) in [("", None), (gzip, Some("gzip"))] {
        let head = request(agent.addr, "HEAD", "/metrics", header).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-encoding"), encoding);
        assert_eq!(head.header("vary"), Some("Accept-Encoding"));
        assert!(head.body.is_empty(), "{:?}", head.body);
    }

    // Errors and the other pages are never compressed.
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("POST", "/metrics", 405),
        ("GET", "/-/healthy", 200),
        ("GET", "/-/ready", 200),
    ] {
        for header in ["", gzip] {
            let a = request(agent.addr, method, path, header).await;
            assert_eq!(a.status, status, "{method} {path} {header:?}");
            assert_eq!(a.header("content-encoding"), None, "{method} {path}");
            assert!(!a.text().is_empty(), "{method} {path}");
        }
    }
}
