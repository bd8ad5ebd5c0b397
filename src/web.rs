//! `--web.config.file`: TLS and basic auth for the web endpoint, in the
//! format of the Prometheus exporter-toolkit (`tls_server_config`,
//! `http_server_config`, `basic_auth_users`), so the same file works for
//! every exporter on a server.
//!
//! It owns parsing and validating that file, the rustls server config, and the
//! basic auth check (bcrypt, with a safe cache). It serves nothing itself:
//! [`crate::http`] asks [`WebGuard`] for the current settings per connection,
//! which re-reads the file when it changed (certificate rotation without a
//! restart) and keeps the last good settings when the new file is broken.
//! Passwords and hashes never reach a log line or an error message.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::{ConfigError, Loc, parse_yaml};

/// Successful (user, password) checks kept, so that bcrypt's deliberate
/// slowness is paid once per credential, not per scrape.
const AUTH_CACHE_ENTRIES: usize = 256;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsServerSpec>,
    http_server_config: Option<HttpServerSpec>,
    basic_auth_users: Option<Spanned<BTreeMap<String, String>>>,
}

/// exporter-toolkit's TLS keys that rustls has no equivalent for
/// (`cipher_suites`, `curve_preferences`, `prefer_server_cipher_suites`) are
/// refused as unknown fields rather than silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerSpec {
    cert_file: Spanned<PathBuf>,
    key_file: Spanned<PathBuf>,
    client_auth_type: Option<Spanned<String>>,
    client_ca_file: Option<Spanned<PathBuf>>,
    min_version: Option<Spanned<String>>,
    max_version: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerSpec {
    /// Only HTTP/1.1 is served; `http2: true` is refused, `false` accepted.
    http2: Option<Spanned<bool>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
}

/// The validated web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user -> bcrypt hash.
    users: Arc<HashMap<String, String>>,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &users)
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates a web configuration file.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path,
                None,
                Loc::default(),
                "",
                format!("cannot read the web configuration file: {e}"),
            )
        })?;
        WebConfig::from_yaml(path, &text)
    }

    pub fn from_yaml(path: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        let raw: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            parse_yaml(path, text, &["basic_auth_users"])?
        };
        let v = Validator {
            file: path,
            source: text,
            base: path.parent().unwrap_or(Path::new(".")),
        };
        let tls = match raw.tls_server_config {
            Some(spec) => Some(Arc::new(v.tls(spec)?)),
            None => None,
        };
        let mut users = HashMap::new();
        if let Some(spec) = raw.basic_auth_users {
            for (user, hash) in spec.value {
                let field = format!("basic_auth_users.{user}");
                if user.is_empty() || user.contains(':') {
                    return Err(v.private(spec.referenced, field, "a user name must be non-empty and contain no `:`"));
                }
                if hash.parse::<bcrypt::HashParts>().is_err() {
                    return Err(v.private(
                        spec.referenced,
                        field,
                        "not a bcrypt hash (`$2y$...`); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                    ));
                }
                users.insert(user, hash);
            }
        }
        let mut headers = Vec::new();
        if let Some(http) = raw.http_server_config {
            if let Some(h2) = &http.http2
                && h2.value
            {
                return Err(v.at(
                    h2,
                    "http_server_config.http2",
                    "only HTTP/1.1 is served; remove `http2` or set it to false",
                ));
            }
            if let Some(spec) = http.headers {
                for (name, value) in &spec.value {
                    let field = format!("http_server_config.headers.{name}");
                    let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| v.at(&spec, field.clone(), "not a valid HTTP header name"))?;
                    let value =
                        hyper::header::HeaderValue::from_str(value).map_err(|_| v.at(&spec, field, "not a valid HTTP header value"))?;
                    headers.push((name, value));
                }
            }
        }
        Ok(WebConfig {
            tls,
            users: Arc::new(users),
            headers,
        })
    }

    /// Whether requests must carry basic auth credentials.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }
}

struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
}

impl Validator<'_> {
    fn at<T>(&self, spanned: &Spanned<T>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        self.at_loc(spanned.referenced, field, message)
    }

    fn at_loc(&self, loc: serde_saphyr::Location, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, Some(self.source), loc.into(), field, message)
    }

    /// An error that does not show the source line (it may hold a hash).
    fn private(&self, loc: serde_saphyr::Location, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, None, loc.into(), field, message)
    }

    fn path(&self, p: &Spanned<PathBuf>) -> PathBuf {
        if p.value.is_absolute() {
            p.value.clone()
        } else {
            self.base.join(&p.value)
        }
    }

    fn read(&self, p: &Spanned<PathBuf>, field: &str) -> Result<Vec<u8>, ConfigError> {
        let path = self.path(p);
        std::fs::read(&path).map_err(|e| self.at(p, field, format!("cannot read {}: {e}", path.display())))
    }

    fn version(&self, v: &Spanned<String>, field: &str) -> Result<&'static rustls::SupportedProtocolVersion, ConfigError> {
        match v.value.as_str() {
            "TLS12" => Ok(&rustls::version::TLS12),
            "TLS13" => Ok(&rustls::version::TLS13),
            "TLS10" | "TLS11" => Err(self.at(v, field, format!("{} is obsolete and refused: use TLS12 or TLS13", v.value))),
            other => Err(self.at(v, field, format!("unknown TLS version `{other}`: use TLS12 or TLS13"))),
        }
    }

    fn tls(&self, spec: TlsServerSpec) -> Result<rustls::ServerConfig, ConfigError> {
        let pem = self.read(&spec.cert_file, "tls_server_config.cert_file")?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| self.at(&spec.cert_file, "tls_server_config.cert_file", format!("not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(self.at(&spec.cert_file, "tls_server_config.cert_file", "holds no PEM certificate"));
        }
        let key_pem = self.read(&spec.key_file, "tls_server_config.key_file")?;
        // Never echo the key file's content, only that it is unusable.
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|_| self.at(&spec.key_file, "tls_server_config.key_file", "holds no usable PEM private key"))?;

        let min = match &spec.min_version {
            Some(v) => self.version(v, "tls_server_config.min_version")?,
            None => &rustls::version::TLS12,
        };
        let max = match &spec.max_version {
            Some(v) => self.version(v, "tls_server_config.max_version")?,
            None => &rustls::version::TLS13,
        };
        let rank = |v: &rustls::SupportedProtocolVersion| u8::from(v.version == rustls::ProtocolVersion::TLSv1_3);
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();
        if versions.is_empty() {
            let at = spec.max_version.as_ref().map_or(spec.cert_file.referenced, |s| s.referenced);
            return Err(self.at_loc(at, "tls_server_config.max_version", "max_version is below min_version"));
        }

        let auth_type = spec.client_auth_type.as_ref().map(|s| s.value.as_str()).unwrap_or("NoClientCert");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| self.at(&spec.cert_file, "tls_server_config", format!("TLS settings refused: {e}")))?;
        let builder = match auth_type {
            "NoClientCert" => builder.with_no_client_auth(),
            "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
                let Some(ca) = &spec.client_ca_file else {
                    let at = spec.client_auth_type.as_ref().map_or(spec.cert_file.referenced, |s| s.referenced);
                    return Err(self.at_loc(at, "tls_server_config.client_ca_file", format!("{auth_type} needs client_ca_file")));
                };
                let pem = self.read(ca, "tls_server_config.client_ca_file")?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| self.at(ca, "tls_server_config.client_ca_file", format!("not valid PEM: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| self.at(ca, "tls_server_config.client_ca_file", format!("not a usable CA certificate: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(self.at(ca, "tls_server_config.client_ca_file", "holds no PEM certificate"));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if auth_type == "VerifyClientCertIfGiven" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| self.at(ca, "tls_server_config.client_ca_file", format!("client verification refused: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            "RequestClientCert" | "RequireAnyClientCert" => {
                let at = spec.client_auth_type.as_ref().map_or(spec.cert_file.referenced, |s| s.referenced);
                return Err(self.at_loc(
                    at,
                    "tls_server_config.client_auth_type",
                    format!("{auth_type} accepts certificates nobody verifies, so it authenticates nobody: use RequireAndVerifyClientCert with client_ca_file"),
                ));
            }
            other => {
                let at = spec.client_auth_type.as_ref().map_or(spec.cert_file.referenced, |s| s.referenced);
                return Err(self.at_loc(
                    at,
                    "tls_server_config.client_auth_type",
                    format!("unknown client_auth_type `{other}`: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
                ));
            }
        };
        if auth_type == "NoClientCert" && spec.client_ca_file.is_some() {
            let at = spec.client_ca_file.as_ref().map_or(spec.cert_file.referenced, |s| s.referenced);
            return Err(self.at_loc(
                at,
                "tls_server_config.client_ca_file",
                "client_ca_file without client_auth_type: set RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
            ));
        }
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            self.at(
                &spec.key_file,
                "tls_server_config.key_file",
                format!("the key does not fit the certificate: {e}"),
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The outcome of checking a request's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Allowed,
    /// 401 with `WWW-Authenticate: Basic`.
    Denied,
}

/// Hands out the current web configuration, re-reading the file when it
/// changed, and checks credentials.
pub struct WebGuard {
    path: Option<PathBuf>,
    state: Mutex<GuardState>,
}

struct GuardState {
    config: WebConfig,
    modified: Option<SystemTime>,
    /// SHA-256 of (user, password, hash) for credentials bcrypt accepted.
    verified: std::collections::HashSet<[u8; 32]>,
}

impl WebGuard {
    /// No web config file: plain HTTP, no auth.
    pub fn open() -> WebGuard {
        WebGuard {
            path: None,
            state: Mutex::new(GuardState {
                config: WebConfig::default(),
                modified: None,
                verified: Default::default(),
            }),
        }
    }

    /// Loads `path` now; an error here stops the start.
    pub fn from_file(path: &Path) -> Result<WebGuard, ConfigError> {
        let config = WebConfig::load(path)?;
        Ok(WebGuard {
            path: Some(path.to_path_buf()),
            state: Mutex::new(GuardState {
                config,
                modified: modified(path),
                verified: Default::default(),
            }),
        })
    }

    /// The settings for a new connection: the file is read again when its
    /// modification time changed; a file that no longer loads keeps the last
    /// good settings and logs why.
    pub fn current(&self) -> WebConfig {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            let now = modified(path);
            if now != state.modified {
                state.modified = now;
                match WebConfig::load(path) {
                    Ok(config) => {
                        tracing::info!(file = %path.display(), "web configuration reloaded");
                        state.config = config;
                        state.verified.clear();
                    }
                    Err(e) => tracing::error!(error = %e, "web configuration not reloaded; the last good one stays in force"),
                }
            }
        }
        state.config.clone()
    }

    /// Checks an `Authorization` header against `config`'s users.
    pub fn check(&self, config: &WebConfig, authorization: Option<&[u8]>) -> AuthOutcome {
        if !config.requires_auth() {
            return AuthOutcome::Allowed;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return AuthOutcome::Denied;
        };
        let Some(hash) = config.users.get(&user) else {
            // Spend the same time as for a known user, so names cannot be probed.
            let _ = bcrypt::verify(&password, DUMMY_HASH);
            return AuthOutcome::Denied;
        };
        // The key binds the exact password to the exact hash it was checked
        // against: a request sending the hash itself as the password has its own
        // key, which bcrypt never accepted (the CVE-2022-46146 class).
        let key = cache_key(&user, &password, hash);
        if self.state.lock().unwrap_or_else(PoisonError::into_inner).verified.contains(&key) {
            return AuthOutcome::Allowed;
        }
        if bcrypt::verify(&password, hash).unwrap_or(false) {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.verified.len() >= AUTH_CACHE_ENTRIES {
                state.verified.clear();
            }
            state.verified.insert(key);
            AuthOutcome::Allowed
        } else {
            AuthOutcome::Denied
        }
    }
}

/// A valid bcrypt hash of nothing anyone sends, for unknown users.
const DUMMY_HASH: &str = "$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn cache_key(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, password, hash] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `Basic base64(user:password)` -> (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .into_bytes()
    }

    #[test]
    fn basic_auth_accepts_the_password_never_the_hash() {
        let hash = bcrypt::hash("s3cret-pass", 4).unwrap();
        let yaml = format!("basic_auth_users:\n  prometheus: \"{hash}\"\n");
        let config = WebConfig::from_yaml(Path::new("web.yml"), &yaml).unwrap();
        let guard = WebGuard::open();
        assert_eq!(guard.check(&config, None), AuthOutcome::Denied);
        assert_eq!(guard.check(&config, Some(&header("prometheus", "wrong"))), AuthOutcome::Denied);
        assert_eq!(guard.check(&config, Some(&header("nobody", "s3cret-pass"))), AuthOutcome::Denied);
        // Twice: the second answer comes from the cache and must agree.
        for _ in 0..2 {
            assert_eq!(
                guard.check(&config, Some(&header("prometheus", "s3cret-pass"))),
                AuthOutcome::Allowed
            );
            assert_eq!(guard.check(&config, Some(&header("prometheus", &hash))), AuthOutcome::Denied);
        }
        assert_eq!(guard.check(&config, Some(b"Bearer abc")), AuthOutcome::Denied);
        assert_eq!(guard.check(&config, Some(b"Basic !!!")), AuthOutcome::Denied);
        assert!(!format!("{config:?}").contains(&hash));
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
        assert!(!bcrypt::verify("", DUMMY_HASH).unwrap());
    }

    #[test]
    fn no_file_means_no_auth() {
        let config = WebConfig::from_yaml(Path::new("web.yml"), "").unwrap();
        assert!(config.tls.is_none() && !config.requires_auth());
        assert_eq!(WebGuard::open().check(&config, None), AuthOutcome::Allowed);
    }
}
