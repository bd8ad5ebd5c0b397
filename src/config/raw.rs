//! The YAML as written: every struct denies unknown keys and keeps source
//! locations (`Spanned`) for the values later rules may reject.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{ConfigError, Loc};
use crate::reason::Kind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub global: Option<GlobalSpec>,
    pub tenants: Option<Vec<TenantSpec>>,
    pub mailboxes: Option<Vec<MailboxSpec>>,
    pub checks: Option<Spanned<Vec<CheckSpec>>>,
    pub ece: Option<super::ece::EceSpec>,
}

/// An Azure AD (Entra ID) application registration in one tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantSpec {
    pub name: Spanned<String>,
    pub tenant_id: Spanned<String>,
    pub client_id: Spanned<String>,
    /// `env:NAME` or `file:PATH`, never the secret itself.
    pub client_secret: Option<Spanned<String>>,
    /// `YYYY-MM-DD`, from the app registration's "Certificates & secrets".
    pub client_secret_expires: Option<Spanned<String>>,
    pub authority: Option<Spanned<String>>,
    pub proxy: Option<Spanned<String>>,
}

/// A mailbox ECE reads or sends with, and how the agent gets its token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MailboxSpec {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub tenant: Spanned<String>,
    pub grant: Option<Spanned<Grant>>,
    pub token_store: Option<Spanned<PathBuf>>,
    pub auth_user: Option<Spanned<String>>,
    pub protocols: Option<Spanned<Vec<MailProtocol>>>,
}

/// How the agent obtains access tokens for a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Delegated: a refresh token bootstrapped once with `token init` (ECE's model).
    RefreshToken,
    /// App-only: the application's own permissions (`*.AccessAsApp`).
    ClientCredentials,
}

/// A mail protocol a mailbox is used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProtocol {
    Imap,
    Pop3,
    Smtp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GlobalSpec {
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub dns_servers: Option<Spanned<Vec<String>>>,
    pub extra_ca_file: Option<Spanned<PathBuf>>,
}

/// One entry of `checks:`. Flat on purpose: a tagged enum would lose the
/// source locations; kind-specific rules are applied in validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckSpec {
    pub name: Spanned<String>,
    pub kind: Spanned<Kind>,
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub target: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub record: Option<Spanned<RecordType>>,
    pub dns_servers: Option<Spanned<Vec<String>>>,
    pub tls: Option<Spanned<TlsMode>>,
    pub server_name: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub expected_issuer: Option<Spanned<String>>,
    pub ehlo_name: Option<Spanned<String>>,
    pub mailbox: Option<Spanned<String>>,
}

/// A duration written the humantime way: `30s`, `5m`, `1h 30m`.
#[derive(Clone, Copy, Debug)]
pub(super) struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration ({e}); write it like 30s, 5m or 1h")))
    }
}

/// DNS record types the `dns` check can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "TXT")]
    Txt,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
        }
    }
}

/// How a mail check gets TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (SMTP 587, IMAP 143) or STLS (POP3 110).
    Starttls,
    /// TLS from the first byte (SMTP 465, IMAP 993, POP3 995).
    Implicit,
    /// No TLS at all (lab use only; Exchange Online requires TLS).
    None,
}

/// Deserializes the YAML, tracking the field path for error messages.
pub(super) fn parse(file: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::file(file, "the configuration file is empty; see config.example.yaml"));
    }
    // Never echo a line of the tenants section: it may hold a secret.
    parse_yaml(file, text, &["tenants"])
}

/// Deserializes any of our YAML files with `Spanned` values into `T`; an
/// error names line, column and field path, and shows the source line unless
/// the field is under one of `private_sections`.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(file: &Path, text: &str, private_sections: &[&str]) -> Result<T, ConfigError> {
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        let mut track = serde_path_to_error::Track::new();
        let r = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if r.is_err() {
            path = track.path().to_string();
        }
        r
    });
    result.map_err(|e| {
        let loc = e.location().map(Loc::from).unwrap_or_default();
        // `Spanned` adds `.value` steps that mean nothing to a user.
        let field = path.replace(".value[", "[").replace(".value.", ".");
        let field = field.strip_suffix(".value").unwrap_or(&field).to_string();
        let field = if field == "?" || field == "." { String::new() } else { field };
        let private = private_sections.iter().any(|s| field.starts_with(s));
        let source = if private { None } else { Some(text) };
        ConfigError::new(file, source, loc, field, bare_message(&e))
    })
}

/// serde-saphyr's `Display` starts with `error: line L column C: ` and ends
/// with its own snippet; we print location and snippet ourselves.
fn bare_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    }
}
