//! The OAuth2 part of the configuration, validated: tenants (app
//! registrations) and mailboxes. Secrets are referenced (`env:NAME`,
//! `file:PATH`) and read when used, so a rotated secret needs no restart;
//! nothing here holds or prints a secret value. A proxy URL may carry
//! credentials: `Debug` redacts them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use super::redact::redact_url;

pub use super::raw::{Grant, MailProtocol};

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Where a secret is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env:{name}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl SecretSource {
    /// Parses `env:NAME` or `file:PATH` (relative to `base`).
    pub fn parse(text: &str, base: &std::path::Path) -> Option<SecretSource> {
        if let Some(name) = text.strip_prefix("env:") {
            (!name.is_empty()).then(|| SecretSource::Env(name.to_string()))
        } else if let Some(path) = text.strip_prefix("file:") {
            let path = PathBuf::from(path);
            (!path.as_os_str().is_empty()).then(|| SecretSource::File(if path.is_absolute() { path } else { base.join(path) }))
        } else {
            None
        }
    }

    /// Reads the secret now. Errors name the source, never the value.
    pub fn read(&self) -> Result<SecretString, String> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?,
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{self:?} is empty"));
        }
        Ok(SecretString::from(value.to_string()))
    }
}

/// An app registration in one tenant. `Debug` shows the proxy URL without
/// its credentials.
#[derive(Clone, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretSource>,
    /// Unix seconds (midnight UTC of the configured date).
    pub client_secret_expires: Option<i64>,
    pub authority: String,
    pub proxy: Option<String>,
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_secret_expires", &self.client_secret_expires)
            .field("authority", &redact_url(&self.authority))
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .finish()
    }
}

/// A mailbox and how its tokens are obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct Mailbox {
    pub name: String,
    pub address: String,
    pub tenant: Arc<Tenant>,
    pub grant: Grant,
    /// Where the refresh token lives (refresh_token grant only).
    pub token_store: Option<PathBuf>,
    /// The delegate whose token reaches a shared mailbox; `address` otherwise.
    pub auth_user: Option<String>,
    pub protocols: Vec<MailProtocol>,
}

impl Mailbox {
    /// The user a delegated token must be issued to.
    pub fn token_user(&self) -> &str {
        self.auth_user.as_deref().unwrap_or(&self.address)
    }
}
