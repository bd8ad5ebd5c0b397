//! The agent binary as a child process for black-box tests: started on
//! 127.0.0.1:0 (its address read from its log), scraped over plain HTTP, its
//! exposition parsed, stopped with SIGTERM.
//!
//! The binary's path is the caller's (`env!("CARGO_BIN_EXE_ece-o365-exporter")`
//! exists only in the main package's tests); this module must not know the
//! agent's types, only what it prints and serves.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The agent as a child process, killed if a test fails midway.
pub struct Agent {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the agent binary `bin` with `config` on 127.0.0.1:0 and the
    /// `extra` arguments.
    pub fn start(bin: &str, config: &Path, extra: &[&str]) -> Agent {
        Agent::start_listening(bin, config, "127.0.0.1:0", extra)
    }

    /// [`Agent::start`] on another `--web.listen-address`.
    pub fn start_listening(bin: &str, config: &Path, listen: &str, extra: &[&str]) -> Agent {
        Agent::spawn(Command::new(bin), config, listen, extra)
    }

    /// Starts `launcher` (the agent binary, or a program that execs it with
    /// the arguments that follow) with the agent's arguments appended.
    pub fn spawn(mut launcher: Command, config: &Path, listen: &str, extra: &[&str]) -> Agent {
        let mut child = launcher
            .arg("--config.file")
            .arg(config)
            .args(["--web.listen-address", listen])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the agent");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("address=").nth(1).or_else(|| line.split("\"address\":\"").nth(1)) {
                    let addr: String = addr.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
                    let _ = tx.send(addr);
                }
                sink.lock().expect("agent log lock").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the agent never said where it listens: {:?}", log.lock().expect("agent log lock")));
        Agent {
            child,
            addr: addr.parse().expect("listen address"),
            log,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path).await
    }

    /// Waits (bounded) until every check has run once.
    pub async fn wait_ready(&self) {
        for _ in 0..300 {
            if self.get("/-/ready").await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never ready; log: {:#?}", self.log.lock().expect("agent log lock"));
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("agent log lock").join("\n")
    }

    /// Waits (bounded) until a log line contains `needle`: the agent's
    /// stderr is read by a thread, so a line written just before an HTTP
    /// answer may reach the test after it.
    pub async fn wait_for_log(&self, needle: &str) {
        for _ in 0..500 {
            if self.log_text().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no log line contains {needle:?} after 10 s:\n{}", self.log_text());
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the agent did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client: status code and body.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    request_with(addr, method, path, "").await
}

/// [`request`] with extra header lines (each ending in CRLF).
pub async fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to the agent");
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n").as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read the answer");
    split_response(&String::from_utf8_lossy(&raw))
}

/// A whole HTTP/1.1 response: its status code and body, with a chunked
/// body (as `/metrics` is sent) joined.
pub fn split_response(text: &str) -> (u16, String) {
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (status, String::new());
    };
    if !head.to_ascii_lowercase().contains("\r\ntransfer-encoding: chunked") {
        return (status, body.to_string());
    }
    let (mut rest, mut joined) = (body, String::new());
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
        if n == 0 {
            return (status, joined);
        }
        let chunk = after.get(..n).unwrap_or_else(|| panic!("chunk of {n} bytes cut short"));
        joined.push_str(chunk);
        rest = after.get(n..).and_then(|r| r.strip_prefix("\r\n")).expect("CRLF after a chunk");
    }
    panic!("chunked body without its last chunk");
}

/// Parses the exposition into `name{labels}` -> value, labels in their order.
pub fn parse(exposition: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(out.insert(series.to_string(), value).is_none(), "duplicate series {series}");
    }
    out
}

/// The value of the one series whose name is `name` and that carries every label in `labels`.
pub fn value(series: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = series
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && labels.iter().all(|(l, v)| k.contains(&format!("{l}=\"{v}\""))))
        .map(|(_, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {} series", found.len());
    found.first().copied()
}
