//! The OAuth2 part of the configuration, validated: tenants (app
//! registrations) and mailboxes, and the rules for both sections. Secrets are referenced (`env:NAME`,
//! `file:PATH`, `dpapi:PATH` on Windows) and read when used, so a rotated secret needs no restart;
//! nothing here holds or prints a secret value. A proxy URL may carry
//! credentials: `Debug` redacts them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;
use serde_saphyr::Spanned;

use super::error::{ConfigError, Loc};
use super::proxy::{ProxyKeys, ProxySetting, TokenProxy, effective_proxy, parse_proxy_url};
use super::raw;
use super::redact::redact_url;
use super::target::Target;
use super::validate::Validator;

pub use super::raw::{Grant, MailProtocol};

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The start of a `file:` path in systemd's credentials directory
/// (`LoadCredential=`, `LoadCredentialEncrypted=`): replaced by the
/// `CREDENTIALS_DIRECTORY` the service manager sets, each time the secret is
/// read, so the directory systemd chose is always the one read.
pub const CREDENTIALS_DIRECTORY: &str = "${CREDENTIALS_DIRECTORY}";

/// The most bytes read from a `dpapi:` file (a protected secret of a few hundred bytes is under 1 KiB).
const MAX_DPAPI_FILE_BYTES: u64 = 64 * 1024;

/// Where a secret is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    /// A file protected with DPAPI for this machine (Windows only), as
    /// `ece-o365-exporter secret protect --out PATH` writes it.
    Dpapi(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env:{name}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
            SecretSource::Dpapi(path) => write!(f, "dpapi:{}", path.display()),
        }
    }
}

impl SecretSource {
    /// Parses `env:NAME`, `file:PATH` (relative to `base`, unless it
    /// starts with [`CREDENTIALS_DIRECTORY`]) or `dpapi:PATH` (relative to
    /// `base`). A `dpapi:` source parses everywhere; reading it off Windows
    /// is the error, so that it names the configuration's line.
    pub fn parse(text: &str, base: &std::path::Path) -> Option<SecretSource> {
        if let Some(name) = text.strip_prefix("env:") {
            (!name.is_empty()).then(|| SecretSource::Env(name.to_string()))
        } else if let Some(text) = text.strip_prefix("file:") {
            let path = PathBuf::from(text);
            let as_is = path.is_absolute() || text.starts_with(CREDENTIALS_DIRECTORY);
            (!path.as_os_str().is_empty()).then(|| SecretSource::File(if as_is { path } else { base.join(path) }))
        } else if let Some(text) = text.strip_prefix("dpapi:") {
            let path = PathBuf::from(text);
            (!path.as_os_str().is_empty()).then(|| SecretSource::Dpapi(base.join(path)))
        } else {
            None
        }
    }

    /// The file a `file:` or `dpapi:` secret is read from now, with
    /// [`CREDENTIALS_DIRECTORY`] replaced; `None` for `env:`.
    pub fn file_path(&self) -> Option<Result<PathBuf, String>> {
        let path = match self {
            SecretSource::Env(_) => return None,
            SecretSource::Dpapi(path) => return Some(Ok(path.clone())),
            SecretSource::File(path) => path,
        };
        let Some(rest) = path.to_str().and_then(|p| p.strip_prefix(CREDENTIALS_DIRECTORY)) else {
            return Some(Ok(path.clone()));
        };
        Some(match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            Some(dir) => Ok(PathBuf::from(dir).join(rest.trim_start_matches(['/', '\\']))),
            None => Err("CREDENTIALS_DIRECTORY is not set: systemd sets it for a service started with \
                 LoadCredential= or LoadCredentialEncrypted=; from a shell, run the command through \
                 `systemd-run --pipe --wait -p LoadCredentialEncrypted=...` (docs/packaging.md)"
                .to_string()),
        })
    }

    /// Reads the secret now. Errors name the source, never the value.
    pub fn read(&self) -> Result<SecretString, String> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?,
            SecretSource::File(_) => {
                let path = self.file_path().unwrap_or_else(|| Err(String::new()))?;
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            SecretSource::Dpapi(path) => read_dpapi(path)?,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{self:?} is empty"));
        }
        Ok(SecretString::from(value.to_string()))
    }
}

/// Reads and unprotects a `dpapi:` file. Errors name the file, never its contents.
#[cfg(windows)]
fn read_dpapi(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let mut blob = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DPAPI_FILE_BYTES + 1).read_to_end(&mut blob))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if blob.len() as u64 > MAX_DPAPI_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_DPAPI_FILE_BYTES} bytes: not a protected secret",
            path.display()
        ));
    }
    let plain = win_ffi::dpapi::unprotect(&blob).map_err(|e| {
        format!(
            "cannot unprotect {} with DPAPI ({e}): write it on this machine with \
             `ece-o365-exporter secret protect --out PATH`",
            path.display()
        )
    })?;
    String::from_utf8(plain).map_err(|e| {
        let mut bytes = e.into_bytes();
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        format!("{} does not protect UTF-8 text", path.display())
    })
}

/// Off Windows a `dpapi:` secret cannot be read: say what to use instead.
#[cfg(not(windows))]
fn read_dpapi(path: &std::path::Path) -> Result<String, String> {
    let _ = (path, MAX_DPAPI_FILE_BYTES);
    Err(
        "dpapi: secrets are protected with Windows DPAPI and read on Windows only; on Linux, keep the secret \
         in a systemd credential (LoadCredentialEncrypted= in the unit) and write \
         `file:${CREDENTIALS_DIRECTORY}/NAME` here (docs/packaging.md)"
            .to_string(),
    )
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
    /// The token endpoint's effective proxy (`tenants[].proxy` with its
    /// credentials, else `global.proxy`; `NO_PROXY` applied to the
    /// authority's host), resolved at load; `None`: direct.
    pub proxy: Option<TokenProxy>,
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
            .field("proxy", &self.proxy)
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

impl Validator<'_> {
    /// Errors about tenants never show the source line: it may hold a secret.
    fn secret_err(&self, loc: impl Into<Loc>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, None, loc.into(), field, message)
    }

    pub(super) fn tenants(&self, specs: Vec<raw::TenantSpec>, global: &ProxySetting) -> Result<Vec<Arc<Tenant>>, ConfigError> {
        let mut out: Vec<Arc<Tenant>> = Vec::new();
        for (i, t) in specs.into_iter().enumerate() {
            let p = |f: &str| format!("tenants[{i}].{f}");
            if out.iter().any(|o| o.name == t.name.value) {
                return Err(self.secret_err(t.name.referenced, p("name"), format!("duplicate tenant name `{}`", t.name.value)));
            }
            let client_secret = match &t.client_secret {
                Some(s) => Some(SecretSource::parse(&s.value, self.base).ok_or_else(|| {
                    self.secret_err(
                        s.referenced,
                        p("client_secret"),
                        "write the secret as env:NAME, file:PATH or dpapi:PATH (Windows), never inline",
                    )
                })?),
                None => None,
            };
            if let Some(source) = &client_secret {
                source.read().map_err(|e| {
                    self.secret_err(
                        t.client_secret.as_ref().map(|s| Loc::from(s.referenced)).unwrap_or_default(),
                        p("client_secret"),
                        e,
                    )
                })?;
            }
            let client_secret_expires = match &t.client_secret_expires {
                Some(d) => Some(parse_date(&d.value).ok_or_else(|| {
                    self.secret_err(
                        d.referenced,
                        p("client_secret_expires"),
                        format!("`{}` is not a date like 2027-06-30", d.value),
                    )
                })?),
                None => None,
            };
            if let Some(v) = &t.authority {
                let shown = redact_url(&v.value);
                if !(v.value.starts_with("https://") || v.value.starts_with("http://")) {
                    return Err(self.secret_err(v.referenced, p("authority"), format!("`{shown}` is not an http(s):// URL")));
                }
                if url::Url::parse(&v.value).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
                    return Err(self.secret_err(
                        v.referenced,
                        p("authority"),
                        format!("`{shown}` carries credentials; the authority is a public URL such as {DEFAULT_AUTHORITY}"),
                    ));
                }
            }
            let authority = t
                .authority
                .as_ref()
                .map(|a| a.value.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
            let proxy = self.tenant_proxy(&t, &authority, global, &p)?;
            out.push(Arc::new(Tenant {
                name: t.name.value.clone(),
                tenant_id: t.tenant_id.value.clone(),
                client_id: t.client_id.value.clone(),
                client_secret,
                client_secret_expires,
                authority,
                proxy,
            }));
        }
        Ok(out)
    }

    /// The token endpoint's proxy of tenant `t` (see [`Tenant::proxy`]). A
    /// URL reqwest takes but a check would not (`https://`, credentials
    /// inline) is kept as written, as before `proxy_user` existed; it cannot
    /// be combined with `proxy_user`/`proxy_password`.
    fn tenant_proxy(
        &self,
        t: &raw::TenantSpec,
        authority: &str,
        global: &ProxySetting,
        p: &dyn Fn(&str) -> String,
    ) -> Result<Option<TokenProxy>, ConfigError> {
        if let Some(v) = &t.proxy
            && !matches!(v.value.as_str(), "env" | "none")
        {
            self.proxy(v, p("proxy"))?;
            if parse_proxy_url(&v.value, false).is_err() {
                if let Some(k) = t.proxy_user.as_ref().or(t.proxy_password.as_ref()) {
                    return Err(self.secret_err(
                        k.referenced,
                        p(if t.proxy_user.is_some() { "proxy_user" } else { "proxy_password" }),
                        format!(
                            "`{}`: with `proxy_user` and `proxy_password`, write the proxy as http://host:port, without credentials",
                            redact_url(&v.value)
                        ),
                    ));
                }
                return Ok(Some(TokenProxy::Url(v.value.clone())));
            }
        }
        let spanned = |s: &Option<Spanned<String>>| s.as_ref().map(|s| (s.value.clone(), Loc::from(s.referenced)));
        let own = self.proxy_setting(ProxyKeys {
            proxy: spanned(&t.proxy),
            user: spanned(&t.proxy_user),
            password: spanned(&t.proxy_password),
            field: p,
            quiet: true,
        })?;
        let target = url::Url::parse(authority)
            .ok()
            .and_then(|u| {
                Some(Target {
                    host: u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string(),
                    port: u.port_or_known_default()?,
                })
            })
            .ok_or_else(|| self.secret_err(Loc::default(), p("authority"), format!("`{}` is not a URL", redact_url(authority))))?;
        Ok(effective_proxy(own.as_ref(), Some(global), &target).map(TokenProxy::Proxy))
    }

    /// A proxy URL: `http(s)://[user:password@]host[:port][/]`. Errors show
    /// it with its credentials redacted.
    fn proxy(&self, v: &Spanned<String>, field: String) -> Result<(), ConfigError> {
        let shown = redact_url(&v.value);
        let bad = |why: String| self.secret_err(v.referenced, field.clone(), format!("`{shown}` {why}"));
        let url = url::Url::parse(&v.value)
            .map_err(|e| bad(format!("is not a proxy URL ({e}); write it like http://proxy.corp.example:8080")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "has the scheme `{}`: only HTTP CONNECT proxies (http:// or https://) are supported",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("names no proxy host".to_string()));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "must be scheme, host and port only, without a path, query or fragment".to_string()
            ));
        }
        Ok(())
    }

    pub(super) fn mailboxes(&self, specs: Vec<raw::MailboxSpec>, tenants: &[Arc<Tenant>]) -> Result<Vec<Arc<Mailbox>>, ConfigError> {
        let mut out: Vec<Arc<Mailbox>> = Vec::new();
        for (i, m) in specs.into_iter().enumerate() {
            let p = |f: &str| format!("mailboxes[{i}].{f}");
            if out.iter().any(|o| o.name == m.name.value) {
                return Err(self.at(&m.name, p("name"), format!("duplicate mailbox name `{}`", m.name.value)));
            }
            for (key, addr) in [("address", Some(&m.address)), ("auth_user", m.auth_user.as_ref())] {
                if let Some(a) = addr
                    && (!a.value.contains('@') || a.value.contains(char::is_whitespace))
                {
                    return Err(self.at(a, p(key), format!("`{}` is not an e-mail address", a.value)));
                }
            }
            let tenant = tenants.iter().find(|t| t.name == m.tenant.value).cloned().ok_or_else(|| {
                let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
                self.at(
                    &m.tenant,
                    p("tenant"),
                    format!("no tenant named `{}` (tenants: {})", m.tenant.value, names.join(", ")),
                )
            })?;
            let grant = m.grant.as_ref().map(|g| g.value).unwrap_or(Grant::RefreshToken);
            let token_store = m.token_store.as_ref().map(|t| {
                if t.value.is_absolute() {
                    t.value.clone()
                } else {
                    self.base.join(&t.value)
                }
            });
            match grant {
                Grant::RefreshToken if token_store.is_none() => {
                    return Err(self.at(
                        &m.name,
                        p("token_store"),
                        "the refresh_token grant needs `token_store: PATH` (written by `token init`)",
                    ));
                }
                Grant::ClientCredentials if tenant.client_secret.is_none() => {
                    return Err(self.at(
                        &m.tenant,
                        p("grant"),
                        format!("client_credentials needs a client_secret in tenant `{}`", tenant.name),
                    ));
                }
                Grant::ClientCredentials if m.token_store.is_some() => {
                    let loc = m.token_store.as_ref().map(|t| Loc::from(t.referenced)).unwrap_or_default();
                    return Err(self.err(
                        loc,
                        p("token_store"),
                        "client_credentials keeps no refresh token: remove token_store",
                    ));
                }
                _ => {}
            }
            let protocols = m
                .protocols
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_else(|| vec![MailProtocol::Imap, MailProtocol::Smtp]);
            out.push(Arc::new(Mailbox {
                name: m.name.value.clone(),
                address: m.address.value.clone(),
                tenant,
                grant,
                token_store,
                auth_user: m.auth_user.as_ref().map(|a| a.value.clone()),
                protocols,
            }));
        }
        Ok(out)
    }
}

/// `YYYY-MM-DD` as Unix seconds at midnight UTC.
fn parse_date(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(&format!("{} 00:00:00", text.trim())).ok()?;
    Some(crate::clock::unix_seconds(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_dpapi_source_is_a_path_relative_to_the_config() {
        let base = std::path::Path::new("/etc/ece");
        let source = SecretSource::parse("dpapi:tokens/client.dpapi", base).unwrap();
        assert_eq!(source, SecretSource::Dpapi(base.join("tokens/client.dpapi")));
        assert_eq!(
            format!("{source:?}"),
            format!("dpapi:{}", base.join("tokens/client.dpapi").display())
        );
        assert_eq!(source.file_path().unwrap().unwrap(), base.join("tokens/client.dpapi"));
        assert_eq!(SecretSource::parse("dpapi:", base), None);
        let file = SecretSource::parse("file:s.txt", base).unwrap();
        assert_eq!(file, SecretSource::File(base.join("s.txt")));
    }

    #[cfg(not(windows))]
    #[test]
    fn off_windows_a_dpapi_secret_is_refused_with_the_systemd_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.dpapi"), b"whatever").unwrap();
        let e = SecretSource::Dpapi(dir.path().join("s.dpapi")).read().unwrap_err();
        assert!(e.contains("Windows only"), "{e}");
        assert!(e.contains("LoadCredentialEncrypted="), "{e}");
        assert!(e.contains("file:${CREDENTIALS_DIRECTORY}/NAME"), "{e}");
        // The other sources still read.
        std::fs::write(dir.path().join("s.txt"), b"value\n").unwrap();
        assert_eq!(
            SecretSource::File(dir.path().join("s.txt")).read().unwrap().expose_secret(),
            "value"
        );
    }
}
