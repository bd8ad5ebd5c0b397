//! The test helpers that need the main crate's types, so they cannot live in
//! `crates/test-support` (which must not depend on `ece-o365-exporter`): run
//! checks built from a YAML config. Everything else the tests share is in
//! the `test-support` crate.

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
