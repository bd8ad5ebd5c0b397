//! The validator's toolkit: errors that name file, line, column and field,
//! and the rules several sections share (durations, name servers, CA files).
//! The sections' own rules are beside their types (`oauth.rs`, `ece.rs`,
//! `check.rs`); `load.rs` runs them in order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_saphyr::Spanned;

use super::Global;
use super::error::{ConfigError, Loc};
use super::no_proxy::ProxyEnv;
use super::raw;

const MIN_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Validator<'a> {
    pub(super) file: &'a Path,
    source: &'a str,
    /// Where relative file names start: the config file's directory.
    pub(super) base: &'a Path,
    /// Trust sets (global extra CAs + one `ca_file`) by the file's path: ten
    /// thousand checks naming one CA file share one set, and with it one TLS
    /// client configuration (see `proto::tls::ClientConfigCache`).
    ca_sets: std::cell::RefCell<std::collections::HashMap<PathBuf, Arc<Vec<CertificateDer<'static>>>>>,
    /// `HTTPS_PROXY` and `NO_PROXY`, read once per load for `proxy: env`.
    pub(super) proxy_env: ProxyEnv,
}

impl<'a> Validator<'a> {
    pub(super) fn new(file: &'a Path, source: &'a str) -> Self {
        Validator {
            file,
            source,
            base: file.parent().unwrap_or(Path::new(".")),
            ca_sets: Default::default(),
            proxy_env: ProxyEnv::from_process(),
        }
    }

    pub(super) fn err(&self, loc: impl Into<Loc>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, Some(self.source), loc.into(), field, message)
    }

    /// Where `key` is written, given where its value is: on the value's line
    /// before it, or on one of the lines just above (a block value).
    pub(super) fn key_loc(&self, key: &str, value: Loc) -> Loc {
        let lines: Vec<&str> = self.source.lines().collect();
        let last = usize::try_from(value.line).unwrap_or(0).min(lines.len());
        for n in (last.saturating_sub(3).max(1)..=last).rev() {
            let line = lines[n - 1];
            let upto = if n == last {
                line.len().min(usize::try_from(value.column).unwrap_or(0).saturating_sub(1))
            } else {
                line.len()
            };
            let Some(head) = line.get(..upto) else { continue };
            let found = head.match_indices(key).find(|(i, _)| {
                let before = head[..*i].chars().next_back();
                let after = head[i + key.len()..].trim_start();
                before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) && after.starts_with(':')
            });
            if let Some((i, _)) = found {
                let column = head[..i].chars().count() + 1;
                return Loc {
                    line: u32::try_from(n).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                };
            }
        }
        value
    }

    pub(super) fn at<T>(&self, spanned: &Spanned<T>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        self.err(spanned.referenced, field, message)
    }

    pub(super) fn check_interval(&self, i: &Spanned<raw::HumanDuration>, field: &str) -> Result<(), ConfigError> {
        if i.value.0 < MIN_INTERVAL {
            return Err(self.at(
                i,
                field,
                format!("interval must be at least {}", humantime::format_duration(MIN_INTERVAL)),
            ));
        }
        Ok(())
    }

    pub(super) fn check_timeout(&self, t: &Spanned<raw::HumanDuration>, interval: Duration, field: &str) -> Result<(), ConfigError> {
        if t.value.0.is_zero() {
            return Err(self.at(t, field, "timeout must be greater than zero"));
        }
        if t.value.0 > interval {
            return Err(self.at(
                t,
                field,
                format!(
                    "timeout ({}) is longer than the interval ({}): a run would still be going when the next is due",
                    humantime::format_duration(t.value.0),
                    humantime::format_duration(interval)
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn dns_servers(&self, list: &[String], loc: Loc, field: &str) -> Result<Vec<SocketAddr>, ConfigError> {
        let mut out = Vec::new();
        for (i, text) in list.iter().enumerate() {
            let addr = name_server(text).ok_or_else(|| {
                self.err(
                    loc,
                    format!("{field}[{i}]"),
                    format!("`{text}` is not an IP address or IP:port (name servers are given by address)"),
                )
            })?;
            out.push(addr);
        }
        if out.is_empty() {
            return Err(self.err(
                loc,
                field,
                "give at least one name server, or remove the key to use the system resolver",
            ));
        }
        Ok(out)
    }

    /// The global extra CAs plus those of `path`: one shared set per file.
    pub(super) fn ca_set(
        &self,
        path: &Path,
        loc: Loc,
        field: &str,
        global: &Global,
    ) -> Result<Arc<Vec<CertificateDer<'static>>>, ConfigError> {
        if let Some(set) = self.ca_sets.borrow().get(path) {
            return Ok(set.clone());
        }
        let mut all = global.extra_ca.as_ref().clone();
        all.extend(self.ca_file(path, loc, field)?.iter().cloned());
        let all = Arc::new(all);
        self.ca_sets.borrow_mut().insert(path.to_path_buf(), all.clone());
        Ok(all)
    }

    pub(super) fn ca_file(&self, file: &Path, loc: Loc, field: &str) -> Result<Arc<Vec<CertificateDer<'static>>>, ConfigError> {
        let path = if file.is_absolute() {
            file.to_path_buf()
        } else {
            self.base.join(file)
        };
        let pem = std::fs::read(&path).map_err(|e| self.err(loc, field, format!("cannot read CA file {}: {e}", path.display())))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(loc, field, format!("CA file {} is not valid PEM: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(self.err(loc, field, format!("CA file {} holds no PEM certificate", path.display())));
        }
        Ok(Arc::new(certs))
    }
}

/// Parses a name server given as `IP` or `IP:port`.
fn name_server(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}
