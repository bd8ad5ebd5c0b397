//! The YAML as written: every struct denies unknown keys and keeps source
//! locations (`Spanned`) for the values later rules may reject.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{ConfigError, Loc};
use super::field_path;

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
    /// The token endpoint's proxy: a URL, `env` or `none`; `global.proxy`
    /// when absent.
    pub proxy: Option<Spanned<String>>,
    pub proxy_user: Option<Spanned<String>>,
    /// `env:NAME` or `file:PATH`, never the password itself.
    pub proxy_password: Option<Spanned<String>>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProtocol {
    Imap,
    Pop3,
    Smtp,
}

impl MailProtocol {
    /// `imap`, `pop3`, `smtp`: as written in `protocols:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MailProtocol::Imap => "imap",
            MailProtocol::Pop3 => "pop3",
            MailProtocol::Smtp => "smtp",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GlobalSpec {
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub dns_servers: Option<Spanned<Vec<String>>>,
    pub extra_ca_file: Option<Spanned<PathBuf>>,
    /// A proxy URL, `env` or `none`, for the checks that connect through one
    /// and the token endpoint of a tenant that names none.
    pub proxy: Option<Spanned<String>>,
    pub proxy_user: Option<Spanned<String>>,
    /// `env:NAME` or `file:PATH`, never the password itself.
    pub proxy_password: Option<Spanned<String>>,
}

/// One entry of `checks:`, flat as the user writes it: the keys every check
/// has, typed, and the kind's own keys kept with their locations until the
/// kind (in `checks/<kind>.rs`) reads them (see `KindKeys`). An unknown key
/// is refused there, naming the keys of the check's kind.
#[derive(Debug)]
pub(super) struct CheckSpec {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub mailbox: Option<Spanned<String>>,
    pub keys: Vec<KindKey>,
}

/// A key of a check that is not common to all kinds, as written.
#[derive(Debug)]
pub(crate) struct KindKey {
    pub key: String,
    /// The value, with where it is written.
    pub value: Spanned<serde_json::Value>,
}

/// The keys every check has; everything else belongs to its kind.
pub const COMMON_KEYS: &[&str] = &["name", "kind", "interval", "timeout", "mailbox"];

impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = CheckSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a check: a map with `name`, `kind` and the kind's keys")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<CheckSpec, A::Error> {
                use serde::de::Error;
                let (mut name, mut kind, mut interval, mut timeout, mut mailbox) = (None, None, None, None, None);
                let mut keys: Vec<KindKey> = Vec::new();
                // Plain string keys, so the error path names the key; where
                // a key is written is found from its value (`key_loc`).
                while let Some(key) = map.next_key::<String>()? {
                    let seen = match key.as_str() {
                        "name" => name.replace(map.next_value()?).is_some(),
                        "kind" => kind.replace(map.next_value()?).is_some(),
                        "interval" => interval.replace(map.next_value()?).is_some(),
                        "timeout" => timeout.replace(map.next_value()?).is_some(),
                        "mailbox" => mailbox.replace(map.next_value()?).is_some(),
                        other => {
                            let seen = keys.iter().any(|k| k.key == other);
                            keys.push(KindKey {
                                key: other.to_string(),
                                value: map.next_value()?,
                            });
                            seen
                        }
                    };
                    if seen {
                        return Err(A::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                Ok(CheckSpec {
                    name: name.ok_or_else(|| A::Error::missing_field("name"))?,
                    kind: kind.ok_or_else(|| A::Error::missing_field("kind"))?,
                    interval,
                    timeout,
                    mailbox,
                    keys,
                })
            }
        }
        d.deserialize_map(Entry)
    }
}

/// A duration written the humantime way: `30s`, `5m`, `1h 30m`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration ({e}); write it like 30s, 5m or 1h")))
    }
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
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location().map(Loc::from).unwrap_or_default();
        let message = bare_message(&e);
        let field = field_path::at(text, loc, &message);
        let private = private_sections.iter().any(|s| field.starts_with(s));
        let source = if private { None } else { Some(text) };
        ConfigError::new(file, source, loc, field, message)
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
