//! The checks: one file per kind, one [`Check`] trait, one registration
//! table ([`KINDS`]), and the runner that owns the timeout.
//!
//! A check only speaks its protocol and writes phases and facts into its
//! [`Probe`]; it never touches metrics, the HTTP server or the clock's
//! deadline. [`run_check`] puts the timeout around it, tells the probe when
//! it falls (so the token request can give its own verdict first), and turns
//! the probe into an [`Observation`].
//!
//! A kind's file owns all of it: its `Kind`, its config keys and their
//! validation (a [`CheckSchema`] the loader calls), its settings type, its
//! target label, its place in the guide ([`KindGuide`]) and its run. A new
//! kind is that file plus one line in [`KINDS`] (docs/development.md).

pub mod dns;
pub mod https;
pub mod imap;
pub mod mailflow;
pub mod pop3;
pub mod smtp;
pub mod tcp;
pub mod tenant;
pub mod tls;
pub mod token;

mod kind;
mod mail;

pub use kind::{Covers, EceUse, GuideTarget, KindGuide, KindSpec, NETWORK_CHAIN, host_port_target};
pub use mail::TlsMode;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use tracing::Instrument;

use crate::config::{CheckConfig, CheckSchema, Config, ConfigError, Mailbox};
use crate::oauth::endpoint::TokenEndpoint;
use crate::oauth::provider::TokenProvider;
use crate::observation::{Failure, Observation, Probe};
use crate::proto::tls::{ClientConfigCache, TlsSetupError};
use crate::reason::{Kind, Reason};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A protocol check. `run` speaks the protocol once; success is `Ok(())`.
pub trait Check: Send + Sync {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>>;
}

/// What the scheduler, the metrics and the report need to know about a check
/// besides how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckMeta {
    pub name: String,
    pub kind: Kind,
    /// `host:port`, or `name/TYPE` for DNS.
    pub target: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// The mailbox whose token the check uses, if any.
    pub mailbox: Option<String>,
}

/// A check ready to run.
#[derive(Clone)]
pub struct ScheduledCheck {
    pub meta: Arc<CheckMeta>,
    pub check: Arc<dyn Check>,
}

/// The token providers of the mailboxes, kept across reloads so that a
/// cached access token survives a reload that leaves its mailbox unchanged.
#[derive(Default)]
pub struct Providers {
    by_mailbox: HashMap<String, ProviderEntry>,
}

impl Providers {
    /// Lets every mailbox whose token failed definitively ask the token
    /// endpoint again at its next run (see [`TokenProvider::reset_backoff`]);
    /// the agent calls it after each successful reload.
    pub fn reset_backoff(&self) {
        for entry in self.by_mailbox.values() {
            entry.provider.reset_backoff();
        }
    }
}

/// A provider and what it was built from; reused only while both are unchanged.
#[derive(Clone)]
struct ProviderEntry {
    mailbox: Mailbox,
    extra_ca: Arc<Vec<CertificateDer<'static>>>,
    provider: Arc<TokenProvider>,
}

/// Shared state while building checks from a config.
pub struct BuildContext<'p> {
    pub tls: ClientConfigCache,
    /// CAs trusted in addition to the system roots, for the token endpoint too.
    pub extra_ca: Arc<Vec<CertificateDer<'static>>>,
    providers: &'p mut Providers,
    /// The mailboxes this build used, so providers of removed ones are dropped.
    used: Vec<String>,
}

/// The longest one request to the token endpoint may take. A run gives it
/// less: what is left of the check's timeout (the provider's deadline).
const TOKEN_ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

impl BuildContext<'_> {
    /// The mailbox's token provider: the existing one when the mailbox and
    /// the trusted CAs are unchanged, a new one otherwise.
    pub fn provider(&mut self, mailbox: &Arc<Mailbox>) -> Result<Arc<TokenProvider>, BuildError> {
        self.used.push(mailbox.name.clone());
        if let Some(entry) = self.providers.by_mailbox.get(&mailbox.name)
            && entry.mailbox == *mailbox.as_ref()
            && entry.extra_ca == self.extra_ca
        {
            return Ok(entry.provider.clone());
        }
        let tenant = &mailbox.tenant;
        let tls = self.tls.get(&self.extra_ca)?;
        let endpoint = TokenEndpoint::through(
            &tenant.authority,
            &tenant.tenant_id,
            tls,
            tenant.proxy.as_ref(),
            TOKEN_ENDPOINT_TIMEOUT,
        )
        .map_err(|e| BuildError::TokenEndpoint(e.to_string()))?;
        let provider = Arc::new(TokenProvider::new(mailbox.clone(), endpoint));
        let entry = ProviderEntry {
            mailbox: mailbox.as_ref().clone(),
            extra_ca: self.extra_ca.clone(),
            provider: provider.clone(),
        };
        self.providers.by_mailbox.insert(mailbox.name.clone(), entry);
        Ok(provider)
    }
}

/// Why a validated check could still not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
    #[error("token endpoint: {0}")]
    TokenEndpoint(String),
    #[error("settings do not match the check kind")]
    Mismatch,
}

/// Makes a kind's runnable check from its validated settings.
pub type Builder = fn(&CheckConfig, &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError>;

/// The registration table: every kind of check the agent has, each declared
/// in its own file.
pub const KINDS: &[&KindSpec] = &[
    &dns::SPEC,
    &tcp::SPEC,
    &tls::SPEC,
    &https::SPEC,
    &smtp::SPEC,
    &imap::SPEC,
    &pop3::SPEC,
    &token::SPEC,
    &tenant::SPEC,
    &mailflow::SPEC,
];

/// The declaration of `kind`.
pub fn spec(kind: Kind) -> Option<&'static KindSpec> {
    KINDS.iter().copied().find(|k| k.schema.kind == kind)
}

/// The config schemas of every kind, for the loader.
pub fn schemas() -> Vec<&'static CheckSchema> {
    KINDS.iter().map(|k| &k.schema).collect()
}

/// Loading a configuration with every kind there is. These live here, not in
/// `config`, because the kinds are declared above `config`.
impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &schemas())
    }

    /// Validates configuration text; `path` is used for messages and to
    /// resolve relative file names.
    pub fn from_yaml(path: &std::path::Path, text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with(path, text, &schemas())
    }
}

/// Builds every configured check. Errors name the file and the check.
pub fn build_all(config: &Config) -> Result<Vec<ScheduledCheck>, ConfigError> {
    build_with(config, &mut Providers::default())
}

/// Builds every configured check, reusing the token providers of unchanged
/// mailboxes (a reload). Nothing in `providers` changes unless the build succeeds.
pub fn build_with(config: &Config, providers: &mut Providers) -> Result<Vec<ScheduledCheck>, ConfigError> {
    let mut next = Providers {
        by_mailbox: providers.by_mailbox.clone(),
    };
    let mut ctx = BuildContext {
        tls: ClientConfigCache::default(),
        extra_ca: config.global.extra_ca.clone(),
        providers: &mut next,
        used: Vec::new(),
    };
    let checks = config
        .checks
        .iter()
        .enumerate()
        .map(|(i, cfg)| {
            let builder = spec(cfg.kind).map(|k| k.build).ok_or(BuildError::Mismatch);
            let check = builder.and_then(|b| b(cfg, &mut ctx)).map_err(|e| ConfigError {
                file: config.file.clone(),
                loc: cfg.loc,
                field: format!("checks[{i}]"),
                message: e.to_string(),
                snippet: None,
            })?;
            let meta = CheckMeta {
                name: cfg.name.clone(),
                kind: cfg.kind,
                target: cfg.target_label(),
                interval: cfg.interval,
                timeout: cfg.timeout,
                mailbox: cfg.mailbox.as_ref().map(|m| m.name.clone()),
            };
            Ok(ScheduledCheck {
                meta: Arc::new(meta),
                check: Arc::from(check),
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let used = std::mem::take(&mut ctx.used);
    drop(ctx);
    next.by_mailbox.retain(|name, _| used.contains(name));
    *providers = next;
    Ok(checks)
}

/// Runs a check once under its timeout. Never panics, whatever a server
/// does, and never takes longer than the timeout (plus scheduling noise).
///
/// A panic inside the run (a bug, which no server input should reach) is
/// caught here: the run ends in reason `internal` with an error-level log
/// line naming the check, and the caller keeps its schedule.
pub async fn run_check(check: &ScheduledCheck) -> Observation {
    let meta = &check.meta;
    let span = tracing::debug_span!("check", check = %meta.name, kind = %meta.kind, target = %meta.target);
    let started = Instant::now();
    // Taken before the timeout starts, so no later than the cut-off; none
    // when the timeout is too long for the clock (then it never fires either).
    let mut probe = match tokio::time::Instant::now().checked_add(meta.timeout) {
        Some(deadline) => Probe::until(deadline),
        None => Probe::default(),
    };
    let result = tokio::time::timeout(meta.timeout, CatchPanic(check.check.run(&mut probe)))
        .instrument(span)
        .await;
    let outcome = match result {
        Ok(Ok(r)) => r,
        Ok(Err(panicked)) => {
            tracing::error!(check = %meta.name, kind = %meta.kind, target = %meta.target, panic = %panicked, "a check run panicked; reported as reason internal");
            Err(Failure::new(Reason::Internal, format!("the check panicked: {panicked}")))
        }
        Err(_) => Err(Failure::timed_out(probe.current_phase(), meta.timeout)),
    };
    probe.into_observation(outcome, started.elapsed())
}

/// Polls a boxed future, turning a panic during a poll into `Err` with the
/// panic's message. The future is not polled again after it panicked.
struct CatchPanic<F>(F);

impl<T, F: Future<Output = T> + Unpin> Future for CatchPanic<F> {
    type Output = Result<T, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        // Unwind safety: after a panic the future is dropped unpolled, and
        // the probe it borrowed is only read for the phase it was in.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => std::task::Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_under_its_own_name() {
        let mut names = std::collections::HashSet::new();
        for spec in KINDS {
            let name = spec.schema.kind.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(names.insert(name), "kind {name} registered twice");
            assert!(super::spec(spec.schema.kind).is_some_and(|found| std::ptr::eq(found, *spec)));
            for key in spec.schema.keys {
                assert!(!crate::config::COMMON_KEYS.contains(key), "{name} redeclares the common key {key}");
            }
        }
        assert_eq!(names.len(), 10);
    }

    /// Every key a kind declares is read by its settings function: a config
    /// setting all of them loads, and a key it forgot would be refused.
    #[test]
    fn every_declared_key_is_read_by_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".to_string()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("proxy-password"), "not-a-secret").unwrap();
        let value = |key: &str| match key {
            "target" => "outlook.office365.com:993",
            "query" => "outlook.office365.com",
            "record" => "AAAA",
            "dns_servers" => "[\"192.0.2.53\"]",
            "tls" => "implicit",
            "server_name" => "outlook.office365.com",
            "ca_file" => "ca.pem",
            "expected_issuer" => "DigiCert",
            "ehlo_name" => "ece.example.com",
            "proxy" => "http://proxy.example:3128",
            "proxy_user" => "ece",
            "proxy_password" => "file:proxy-password",
            "url" => "https://ece.example.com/system",
            "method" => "HEAD",
            "expect_status" => "[200, \"300-399\"]",
            "tenant" => "t",
            "to" => "p",
            "receive_target" => "outlook.office365.com:993",
            "receive_tls" => "implicit",
            "receive_server_name" => "outlook.office365.com",
            other => panic!("no test value for key `{other}`: add one here"),
        };
        let mut yaml = String::from(
            "tenants:\n  - {name: t, tenant_id: 00000000-0000-0000-0000-000000000001, client_id: 00000000-0000-0000-0000-000000000002}\n\
             mailboxes:\n  - {name: m, address: ece@example.com, tenant: t, token_store: tok.json, protocols: [smtp, imap, pop3]}\n  \
             - {name: p, address: probe@example.com, tenant: t, token_store: probe.json, protocols: [imap]}\nchecks:\n",
        );
        for spec in KINDS {
            let kind = spec.schema.kind;
            yaml.push_str(&format!("  - name: {kind}-all\n    kind: {kind}\n"));
            if spec.schema.mailbox != crate::config::MailboxUse::NotUsed {
                yaml.push_str("    mailbox: m\n");
            }
            if kind == mailflow::KIND {
                // It sends a message each run and waits for it.
                yaml.push_str("    interval: 15m\n    timeout: 5m\n");
            }
            for key in spec.schema.keys {
                yaml.push_str(&format!("    {key}: {}\n", value(key)));
            }
        }
        let cfg = Config::from_yaml(&dir.path().join("config.yaml"), &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(cfg.checks.len(), KINDS.len());
        for (check, spec) in cfg.checks.iter().zip(KINDS) {
            assert_eq!(check.kind, spec.schema.kind);
        }
    }

    /// YAML reads `12345` as a number; a kind's text key takes it as text, as
    /// the keys every check has do; a key that wants a list still refuses it.
    #[test]
    fn a_number_is_text_where_a_kind_wants_text() {
        let path = std::path::Path::new("config.yaml");
        let yaml = "checks:\n  - name: s\n    kind: smtp\n    target: smtp.example.com:587\n    ehlo_name: 12345\n";
        let cfg = Config::from_yaml(path, yaml).unwrap();
        let mail = cfg.checks[0].settings::<mail::MailSettings>().unwrap();
        assert_eq!(mail.ehlo_name.as_deref(), Some("12345"));
        let yaml = "checks:\n  - name: d\n    kind: dns\n    query: example.com\n    dns_servers: 5\n";
        let err = Config::from_yaml(path, yaml).unwrap_err();
        assert_eq!(err.field, "checks[0].dns_servers");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }
}
