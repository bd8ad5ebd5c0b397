//! Prometheus (Debian's `prometheus` package, see
//! scripts/install-test-peers.sh) as a real peer: started on a free loopback
//! port with a caller's config and its storage in a temporary directory,
//! queried over its HTTP API, killed when dropped. Also the path of
//! `promtool`.
//!
//! Owns the Prometheus process and its HTTP API calls; what the tests load
//! into it (the alert rules, the dashboard's expressions) is theirs. Nothing
//! it starts reaches beyond loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::free_port;

/// Debian's Prometheus server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Debian's promtool.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// `path`, after asserting that it exists (with how to install it).
pub fn tool(path: &str) -> &str {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run scripts/install-test-peers.sh as root (it installs Debian's `prometheus` package)"
    );
    path
}

/// A running Prometheus, killed when dropped.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port with `config`, storage in a
    /// temporary directory, nothing that reaches beyond loopback, and waits
    /// (bounded) until it is ready.
    pub async fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(tool(PROMETHEUS))
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!("--web.external-url=http://{addr}/"))
            .arg(format!("--web.console.templates={}", dir.path().display()))
            .arg(format!("--web.console.libraries={}", dir.path().display()))
            .args([
                "--no-web.enable-lifecycle",
                "--no-web.enable-admin-api",
                "--no-web.enable-remote-write-receiver",
                "--storage.tsdb.retention.time=1h",
                "--log.level=info",
            ])
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let mut prom = Prometheus {
            child,
            addr,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((200, _)) = try_get(prom.addr, "/-/ready").await {
                return prom;
            }
            if let Ok(Some(status)) = prom.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", prom.log_tail());
            }
            assert!(Instant::now() < deadline, "prometheus not ready after 30 s:\n{}", prom.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub async fn api(&self, path: &str) -> Value {
        let (status, body) = try_get(self.addr, path)
            .await
            .unwrap_or_else(|| panic!("prometheus does not answer {path}:\n{}", self.log_tail()));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: HTTP {status}, not JSON ({e}): {body}"))
    }

    /// An instant query: the result, or Prometheus's error.
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let v = self.api(&format!("/api/v1/query?query={}", encode(expr))).await;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        Ok(match v["data"]["resultType"].as_str() {
            Some("vector" | "matrix") => v["data"]["result"].as_array().cloned().unwrap_or_default(),
            _ => vec![v["data"]["result"].clone()],
        })
    }

    /// The values of `label` on the series `selector` selects (what Grafana's
    /// `label_values(selector, label)` asks).
    pub async fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        let v = self
            .api(&format!("/api/v1/label/{label}/values?match[]={}", encode(selector)))
            .await;
        assert_eq!(v["status"], "success", "label_values({selector}, {label}): {v}");
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    }

    /// Every alerting rule: name -> (health, state, active alerts).
    pub async fn alert_rules(&self) -> BTreeMap<String, (String, String, Vec<Value>)> {
        let v = self.api("/api/v1/rules?type=alert").await;
        assert_eq!(v["status"], "success", "{v}");
        let mut out = BTreeMap::new();
        for g in v["data"]["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                let alerts = r["alerts"].as_array().cloned().unwrap_or_default();
                let health = match r["lastError"].as_str() {
                    Some(e) if !e.is_empty() => format!("{} ({e})", text("health")),
                    _ => text("health"),
                };
                out.insert(text("name"), (health, text("state"), alerts));
            }
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GET over HTTP/1.0 (so the answer is neither chunked nor kept alive):
/// status and body, or None when nothing listens or it does not answer.
pub async fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Some((status, body))
    };
    // Only a guard against a hung peer; nothing waits for it to elapse.
    tokio::time::timeout(Duration::from_secs(20), exchange).await.ok().flatten()
}
