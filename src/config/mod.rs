//! The configuration file: typed, validated once at load, with errors that
//! name file, line, column and field.
//!
//! Loading happens in two steps. `raw` mirrors the YAML with source
//! locations (`deny_unknown_fields` everywhere; a check's own keys are kept
//! for its kind; `field_path` names the field of a parse error); [`Config::from_yaml_with`] then checks every rule
//! (`validate`; each check kind reads its keys through [`KindKeys`]) and
//! produces plain typed values. Nothing after loading needs to re-validate or can fail on
//! configuration. This module reads files named in the config (CA bundles)
//! but opens no network connection. Errors and `Debug` never show the
//! credentials of a URL (a proxy's password): [`redact_url`] and
//! [`redact_urls`] are the one place that hides them, for every caller.

mod check;
mod ece;
mod error;
mod field_path;
mod load;
mod no_proxy;
mod oauth;
mod proxy;
mod raw;
mod redact;
mod target;
mod validate;
mod version;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

pub use check::{CheckConfig, CheckSchema, DynSettings, Inherit, KindKeys, KindSettings, MailboxUse, Target, TlsSettings, parse_target};
pub use ece::{EceSettings, ServerRole};
pub use error::{ConfigError, Loc};
pub use no_proxy::{NoProxy, ProxyEnv};
pub use oauth::{CREDENTIALS_DIRECTORY, DEFAULT_AUTHORITY, Grant, MailProtocol, Mailbox, SecretSource, Tenant};
pub use proxy::{Proxy, ProxyAuth, ProxySetting, TokenProxy, effective_proxy, parse_proxy_url};
pub use raw::COMMON_KEYS;
pub(crate) use raw::parse_yaml;
pub use redact::{REDACTED, redact_url, redact_urls};
use validate::Validator;
pub use version::EceVersion;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A validated configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub file: PathBuf,
    pub global: Global,
    pub tenants: Vec<Arc<Tenant>>,
    pub mailboxes: Vec<Arc<Mailbox>>,
    pub checks: Vec<Arc<CheckConfig>>,
    /// The `ece:` section (empty when absent).
    pub ece: EceSettings,
}

#[derive(Clone, Debug, Default)]
pub struct Global {
    pub interval: Duration,
    pub timeout: Duration,
    /// Empty: the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// Certificates trusted in addition to the system roots (corporate TLS inspection).
    pub extra_ca: Arc<Vec<CertificateDer<'static>>>,
    /// `global.proxy`: how `tcp` and `tls` checks reach their targets
    /// unless they say otherwise (mail checks do not inherit it), and the
    /// token endpoint of a tenant without its own `proxy`.
    pub proxy: ProxySetting,
}

impl Config {
    /// Reads and validates a configuration file whose checks are of the
    /// given kinds. (`Config::load`, with every kind the agent has, is
    /// implemented in `checks`: the kinds live above this module.)
    pub fn load_with(path: &Path, kinds: &[&CheckSchema]) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::file(path, format!("cannot read the configuration file: {e}")))?;
        Config::from_yaml_with(path, &text, kinds)
    }

    /// Validates configuration text; `path` is used for messages and to
    /// resolve relative file names.
    pub fn from_yaml_with(path: &Path, text: &str, kinds: &[&CheckSchema]) -> Result<Config, ConfigError> {
        let raw = raw::parse(path, text)?;
        Validator::new(path, text).validate(raw, kinds)
    }
}
