//! Test support for ece-o365-exporter's tests, compiled once for every test
//! binary: a throwaway PKI ([`pki`]), in-process servers that speak the
//! protocols for real on loopback ([`servers`], [`token_server`]), the real
//! third-party peers as processes ([`dovecot`], [`postfix`], [`prometheus`],
//! run by [`process`]), test tokens ([`jwt`]), loopback sockets ([`net`]),
//! the agent binary as a child process ([`agent`]), HTTP `CONNECT` proxies
//! ([`proxy`]) and a real one ([`tinyproxy`]), and a few shared helpers.
//!
//! The servers stand in for Microsoft's, never for our own code. This crate
//! must not depend on `ece-o365-exporter` (the main package has it as a
//! dev-dependency: a cycle would give the tests two copies of its types), so
//! helpers that need the main crate's types stay in `tests/`, and the
//! agent's binary path (`env!("CARGO_BIN_EXE_ece-o365-exporter")`, only set
//! for the main package's tests) is passed in.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub mod agent;
#[cfg(unix)]
pub mod dovecot;
pub mod https;
pub mod jwt;
pub mod net;
pub mod pki;
#[cfg(unix)]
pub mod postfix;
#[cfg(unix)]
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod servers;
#[cfg(unix)]
pub mod tinyproxy;
pub mod token_server;

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// [`now`] with its fraction (as the agent's `_timestamp_seconds` metrics).
pub fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `rel` under the repository's root (the workspace root, two levels above
/// this crate).
pub fn repo(rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-support sits two levels below the repository root");
    root.join(rel)
}

/// A one-check config: `kind`, `target` and extra YAML lines (indented 4).
pub fn one_check(kind: &str, target: &str, extra: &str) -> String {
    format!("global:\n  interval: 60s\n  timeout: 5s\nchecks:\n  - name: under-test\n    kind: {kind}\n    target: {target}\n{extra}")
}
