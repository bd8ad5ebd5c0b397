//! Validation of the parsed YAML into typed values: the sections (`global`,
//! `tenants`, `mailboxes`, `ece`) and what every check has; a check's own
//! keys are read by its kind (see [`super::check::KindKeys`]). Each rule's
//! error names file, line, column and field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_saphyr::Spanned;

use super::check::{self, CheckConfig, CheckSchema, KindKeys, MailboxUse};
use super::ece::EceSettings;
use super::error::{ConfigError, Loc};
use super::oauth::Mailbox;
use super::proxy::{ProxyEnv, ProxyKeys};
use super::raw;
use super::{Config, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Global};

const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_NAME_LEN: usize = 64;

pub(crate) struct Validator<'a> {
    pub(super) file: &'a Path,
    source: &'a str,
    /// Where relative file names start: the config file's directory.
    pub(super) base: &'a Path,
    /// The check kinds there are.
    kinds: &'a [&'a CheckSchema],
    /// Trust sets (global extra CAs + one `ca_file`) by the file's path: ten
    /// thousand checks naming one CA file share one set, and with it one TLS
    /// client configuration (see `proto::tls::ClientConfigCache`).
    ca_sets: std::cell::RefCell<std::collections::HashMap<PathBuf, Arc<Vec<CertificateDer<'static>>>>>,
    /// `HTTPS_PROXY` and `NO_PROXY`, read once per load for `proxy: env`.
    pub(super) proxy_env: ProxyEnv,
}

impl<'a> Validator<'a> {
    pub(super) fn new(file: &'a Path, source: &'a str, kinds: &'a [&'a CheckSchema]) -> Self {
        Validator {
            file,
            source,
            base: file.parent().unwrap_or(Path::new(".")),
            kinds,
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

    pub(super) fn validate(&self, raw: raw::ConfigFile) -> Result<Config, ConfigError> {
        let g = raw.global.unwrap_or_default();
        let interval = g.interval.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_INTERVAL);
        let timeout = g.timeout.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_TIMEOUT);
        if let Some(i) = &g.interval {
            self.check_interval(i, "global.interval")?;
        }
        if let Some(t) = &g.timeout {
            self.check_timeout(t, interval, "global.timeout")?;
        }
        let dns_servers = match &g.dns_servers {
            Some(s) => self.dns_servers(&s.value, s.referenced.into(), "global.dns_servers")?,
            None => Vec::new(),
        };
        let extra_ca = match &g.extra_ca_file {
            Some(f) => self.ca_file(&f.value, f.referenced.into(), "global.extra_ca_file")?,
            None => Arc::default(),
        };
        let spanned = |s: &Option<Spanned<String>>| s.as_ref().map(|s| (s.value.clone(), Loc::from(s.referenced)));
        let proxy = self
            .proxy_setting(ProxyKeys {
                proxy: spanned(&g.proxy),
                user: spanned(&g.proxy_user),
                password: spanned(&g.proxy_password),
                field: &|k| format!("global.{k}"),
            })?
            .unwrap_or_default();
        let global = Global {
            interval,
            timeout,
            dns_servers,
            extra_ca,
            proxy,
        };
        let ece = match raw.ece {
            Some(spec) => self.ece(spec)?,
            None => EceSettings::default(),
        };
        let tenants = self.tenants(raw.tenants.unwrap_or_default())?;
        let mailboxes = self.mailboxes(raw.mailboxes.unwrap_or_default(), &tenants)?;

        let Some(raw_checks) = raw.checks else {
            return Err(self.err(Loc::default(), "checks", "at least one check is required"));
        };
        if raw_checks.value.is_empty() {
            return Err(self.at(&raw_checks, "checks", "at least one check is required"));
        }
        let mut names = HashSet::new();
        let mut checks = Vec::with_capacity(raw_checks.value.len());
        for (i, c) in raw_checks.value.into_iter().enumerate() {
            let name_loc: Loc = c.name.referenced.into();
            let check = self.check(i, c, &global, &mailboxes)?;
            if !names.insert(check.name.clone()) {
                return Err(self.err(
                    name_loc,
                    format!("checks[{i}].name"),
                    format!("duplicate check name `{}`: every check needs a unique name", check.name),
                ));
            }
            checks.push(Arc::new(check));
        }
        Ok(Config {
            file: self.file.to_path_buf(),
            global,
            tenants,
            mailboxes,
            checks,
            ece,
        })
    }

    fn check_interval(&self, i: &Spanned<raw::HumanDuration>, field: &str) -> Result<(), ConfigError> {
        if i.value.0 < MIN_INTERVAL {
            return Err(self.at(
                i,
                field,
                format!("interval must be at least {}", humantime::format_duration(MIN_INTERVAL)),
            ));
        }
        Ok(())
    }

    fn check_timeout(&self, t: &Spanned<raw::HumanDuration>, interval: Duration, field: &str) -> Result<(), ConfigError> {
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
            let addr = check::name_server(text).ok_or_else(|| {
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

    fn ca_file(&self, file: &Path, loc: Loc, field: &str) -> Result<Arc<Vec<CertificateDer<'static>>>, ConfigError> {
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

    fn check(&self, i: usize, c: raw::CheckSpec, global: &Global, mailboxes: &[Arc<Mailbox>]) -> Result<CheckConfig, ConfigError> {
        let p = |f: &str| format!("checks[{i}].{f}");
        let name = c.name.value.clone();
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(self.at(
                &c.name,
                p("name"),
                format!(
                    "check names are 1 to {MAX_NAME_LEN} characters of letters, digits, `-`, `_` and `.` (they become the `check` label)"
                ),
            ));
        }
        let Some(schema) = self.kinds.iter().find(|k| k.kind.as_str() == c.kind.value) else {
            let names: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
            return Err(self.at(
                &c.kind,
                p("kind"),
                format!("unknown check kind `{}`, expected one of {}", c.kind.value, names.join(", ")),
            ));
        };
        let kind = schema.kind;

        // Keys of other kinds (or of none) first: the likeliest mistake.
        if let Some(m) = &c.mailbox
            && schema.mailbox == MailboxUse::NotUsed
        {
            let loc = Loc::from(m.referenced);
            return Err(check::not_for_kind(self, i, kind, "mailbox", loc, self.kinds));
        }
        if let Some(k) = c.keys.iter().find(|k| !schema.keys.contains(&k.key.as_str())) {
            return Err(check::not_for_kind(self, i, kind, &k.key, k.value.referenced.into(), self.kinds));
        }

        let interval = match &c.interval {
            Some(d) => {
                self.check_interval(d, &p("interval"))?;
                d.value.0
            }
            None => global.interval,
        };
        let timeout = match &c.timeout {
            Some(t) => {
                self.check_timeout(t, interval, &p("timeout"))?;
                t.value.0
            }
            None if global.timeout > interval => {
                return Err(self.at(
                    &c.name,
                    p("interval"),
                    format!(
                        "interval ({}) is shorter than the global timeout ({}): set a `timeout` for this check",
                        humantime::format_duration(interval),
                        humantime::format_duration(global.timeout)
                    ),
                ));
            }
            None => global.timeout,
        };

        let mailbox = match &c.mailbox {
            Some(name) => {
                let m = mailboxes
                    .iter()
                    .find(|m| m.name == name.value)
                    .ok_or_else(|| self.at(name, p("mailbox"), format!("no mailbox named `{}` under `mailboxes:`", name.value)))?;
                if let MailboxUse::Optional(protocol) = schema.mailbox
                    && !m.protocols.contains(&protocol)
                {
                    return Err(self.at(
                        name,
                        p("mailbox"),
                        format!("mailbox `{}` does not list {kind} in its protocols", m.name),
                    ));
                }
                Some(m)
            }
            None if schema.mailbox == MailboxUse::Required => {
                return Err(self.at(&c.name, p("mailbox"), format!("a {kind} check needs `mailbox: NAME`")));
            }
            None => None,
        };

        let mut keys = KindKeys {
            validator: self,
            index: i,
            kind,
            name_loc: c.name.referenced.into(),
            global,
            mailbox,
            keys: c.keys,
        };
        let settings = (schema.settings)(&mut keys)?;
        keys.finish(self.kinds)?;
        Ok(CheckConfig {
            name,
            loc: c.name.referenced.into(),
            kind,
            interval,
            timeout,
            settings,
            mailbox: mailbox.cloned(),
        })
    }
}
