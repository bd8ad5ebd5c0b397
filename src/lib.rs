//! ece-o365-exporter: a Prometheus exporter that checks, on a schedule, every
//! link of the path Cisco Enterprise Chat and Email (ECE) uses to reach
//! Exchange Online: DNS, TCP ports, TLS, SMTP with STARTTLS, IMAP and POP3.
//!
//! # Layout
//!
//! Data flows one way:
//! `config` -> `scheduler` -> `checks` -> `observation` -> `metrics` ->
//! `state` -> `http`. No module imports one that imports it back; each
//! depends only on those listed after it below (besides `reason`, which
//! everything may use):
//!
//! - `agent` -> `scheduler`, `state`, `metrics`, `checks`, `config`
//! - `http` -> `state`, `report`, `web`, `i18n`
//! - `state` -> `metrics`, `config`
//! - `report` -> `guide`, `metrics`, `i18n`, `checks`, `observation`, `config`
//! - `guide` -> `checks`, `observation`, `config`
//! - `scheduler` -> `metrics`, `checks`, `observation`, `config`
//! - `metrics` -> `checks`, `observation`, `config`
//! - `checks` -> `oauth`, `proto`, `observation`, `config`
//! - `oauth` -> `proto`, `observation`, `config`
//! - `proto` -> `observation`, `config`
//! - `web` -> `config`
//! - `fuzzing` (hidden) -> `checks`, `oauth`, `proto`, `observation`
//! - `secret` -> `atomic_file`
//! - `observation`, `config` -> `reason` only; `i18n`, `limits`, `logging`,
//!   `service`, `eventlog` -> nothing of the crate
//!
//! `main.rs` wires `agent` and `http` together through [`state`].
//! To check: `grep -rhoE '^[^/]*crate::[a-z0-9_]+' src/<module>` lists what a module uses.
//!
//! - [`config`]: the YAML file, validated once at load into typed values;
//!   errors name file, line, column and field (including parsing the ECE
//!   version, which [`guide`] judges). It knows no check kind: each kind
//!   reads its own keys through [`config::KindKeys`].
//! - [`checks`]: one file per kind (its `kind:` name, keys and settings,
//!   place in the guide, and run) behind one [`checks::Check`] trait, and the
//!   registration table [`checks::KINDS`]; [`checks::run_check`] owns the
//!   timeout. `Config::load` is implemented there, with every kind.
//! - [`proto`]: what the checks share: connecting, HTTP CONNECT through a
//!   proxy, TLS, the bounded line codec, the bounded HTTP/1.1 client.
//! - [`observation`]: what a run saw (phases, failure, facts).
//! - [`reason`]: the bounded label vocabularies (`Reason`, declared with
//!   its guide item; `Phase`, `Kind`, `GuideItem`).
//! - [`scheduler`]: one driver task for every check's schedule (interval with jitter), a task per run in flight, shutdown.
//! - [`metrics`]: the only place that knows metric names; it also keeps each
//!   check's last run, once, and lends it to readers.
//! - [`state`]: what the agent has running (configuration, configured
//!   checks, the last runs, the reload channel), written by [`agent`] and
//!   read by [`http`].
//! - [`http`]: `/metrics`, health, readiness and a status page; never runs a check.
//! - [`web`]: `--web.config.file` (exporter-toolkit format): TLS and basic auth for [`http`].
//! - [`guide`]: Cisco's troubleshooting guide as an assessment: config and
//!   check results mapped to the guide's check items, with evidence and remedy.
//! - [`i18n`]: the guide's five languages (Fluent files) and picking one.
//! - [`report`]: the assessment as text, JSON, HTML (`/`) and a Prometheus
//!   textfile, for the `check` subcommand and the status page.
//! - [`logging`]: logfmt or JSON log lines.
//! - [`eventlog`]: the Windows service's Event Log events (ids, levels, one
//!   per change of a check's state) as a `tracing` layer.
//! - [`atomic_file`]: replacing a file atomically and durably (the token
//!   store, the textfile).
//! - [`clock`]: wall-clock time as Unix seconds.
//! - [`limits`]: the open-file limit raised to the hard limit at start, so
//!   the checks do not run out of descriptors.
//! - [`agent`]: the configuration lifecycle: start, reload (keeping the last
//!   good configuration), stop.
//! - `service` (Windows only): running as a Windows service, `service
//!   install`/`uninstall`, and the `%ProgramData%` paths.
//! - [`secret`]: `secret protect`, a secret from standard input to a file
//!   protected with DPAPI for the machine (Windows).
//! - [`oauth`]: OAuth2 tokens: the token endpoint client, the token store,
//!   JWT claims, and one token provider per mailbox shared by its checks.
//!
//! The binary (`main.rs`) only wires these together.

#![forbid(unsafe_code)]

pub mod agent;
pub mod atomic_file;
pub mod checks;
pub mod clock;
pub mod config;
pub mod eventlog;
#[doc(hidden)]
pub mod fuzzing;
pub mod guide;
pub mod http;
pub mod i18n;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod observation;
pub mod proto;
pub mod reason;
pub mod report;
pub mod scheduler;
pub mod secret;
#[cfg(windows)]
pub mod service;
pub mod state;
pub mod web;

/// The exporter's version, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from, or `unknown`.
pub const REVISION: &str = match option_env!("ECE_O365_REVISION") {
    Some(r) => r,
    None => "unknown",
};
