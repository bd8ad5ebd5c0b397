//! Test support shared by the integration tests: a test PKI, in-process
//! servers that speak the protocols for real on loopback, the real
//! third-party peers (Dovecot, Postfix), and helpers to run checks from YAML.
//!
//! The servers stand in for Microsoft's, never for our own code.
#![allow(dead_code)]

pub mod agent;
pub mod peers;
pub mod pki;
pub mod servers;
pub mod token_server;

use std::path::Path;

use ece_o365_exporter::checks::{ScheduledCheck, build_all, run_check};
use ece_o365_exporter::config::Config;
use ece_o365_exporter::observation::Observation;

/// Builds the checks of a YAML config written in `dir` (so relative
/// `ca_file`s resolve there).
pub fn checks_from_yaml(dir: &Path, yaml: &str) -> Vec<ScheduledCheck> {
    let path = dir.join("test-config.yaml");
    std::fs::write(&path, yaml).expect("write test config");
    let cfg = Config::from_yaml(&path, yaml).unwrap_or_else(|e| panic!("test config invalid: {e}\n{yaml}"));
    build_all(&cfg).unwrap_or_else(|e| panic!("test checks not built: {e}"))
}

/// Runs the first check of a YAML config once.
pub async fn run_first(dir: &Path, yaml: &str) -> Observation {
    let checks = checks_from_yaml(dir, yaml);
    run_check(&checks[0]).await
}

/// A one-check config: `kind`, `target` and extra YAML lines (indented 4).
pub fn one_check(kind: &str, target: &str, extra: &str) -> String {
    format!("global:\n  interval: 60s\n  timeout: 5s\nchecks:\n  - name: under-test\n    kind: {kind}\n    target: {target}\n{extra}")
}
