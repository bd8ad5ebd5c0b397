//! Loading in order: the sections first (`global`, `ece`, `tenants`,
//! `mailboxes`), then each check: what every check has (name, kind,
//! interval, timeout, mailbox) here, its own keys by its kind through
//! [`KindKeys`].

use std::collections::HashSet;
use std::sync::Arc;

use serde_saphyr::Spanned;

use super::check::{self, CheckConfig, CheckSchema, KindKeys, MailboxUse};
use super::ece::EceSettings;
use super::error::{ConfigError, Loc};
use super::oauth::{MailProtocol, Mailbox, Tenant};
use super::proxy::ProxyKeys;
use super::raw;
use super::validate::Validator;
use super::{Config, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Global};

const MAX_NAME_LEN: usize = 64;

impl Validator<'_> {
    pub(super) fn validate(&self, raw: raw::ConfigFile, kinds: &[&CheckSchema]) -> Result<Config, ConfigError> {
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
                quiet: false,
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
        let tenants = self.tenants(raw.tenants.unwrap_or_default(), &global.proxy)?;
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
            let check = self.check(i, c, &global, &tenants, &mailboxes, kinds)?;
            if !names.insert(check.name.clone()) {
                return Err(self.err(
                    name_loc,
                    format!("checks[{i}].name"),
                    format!("duplicate check name `{}`: every check needs a unique name", check.name),
                ));
            }
            checks.push(Arc::new(check));
        }
        self.probe_mailboxes_unread(&checks, kinds)?;
        Ok(Config {
            file: self.file.to_path_buf(),
            global,
            tenants,
            mailboxes,
            checks,
            ece,
        })
    }

    /// A mailbox a check deletes test messages from (a mail flow check's
    /// `to`) must be one ECE never retrieves from: no IMAP or POP3 check
    /// may read it as ECE's mailbox.
    fn probe_mailboxes_unread(&self, checks: &[Arc<CheckConfig>], kinds: &[&CheckSchema]) -> Result<(), ConfigError> {
        for (i, c) in checks.iter().enumerate() {
            let Some((probe, key, loc)) = c.settings.probe_mailbox() else {
                continue;
            };
            let reader = checks.iter().enumerate().find(|(_, r)| {
                let reads = kinds
                    .iter()
                    .any(|k| k.kind == r.kind && matches!(k.mailbox, MailboxUse::Optional(MailProtocol::Imap | MailProtocol::Pop3)));
                reads && r.mailbox.as_ref().is_some_and(|m| m.name == probe)
            });
            if let Some((j, r)) = reader {
                return Err(self.err(
                    loc,
                    format!("checks[{i}].{key}"),
                    format!(
                        "mailbox `{probe}` is read as ECE's mailbox by check `{}` (checks[{j}]); the {} check deletes its test \
                         messages from `{key}`, so it must be a mailbox ECE never retrieves from",
                        r.name, c.kind
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check(
        &self,
        i: usize,
        c: raw::CheckSpec,
        global: &Global,
        tenants: &[Arc<Tenant>],
        mailboxes: &[Arc<Mailbox>],
        kinds: &[&CheckSchema],
    ) -> Result<CheckConfig, ConfigError> {
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
        let Some(schema) = kinds.iter().find(|k| k.kind.as_str() == c.kind.value) else {
            let names: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
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
            return Err(check::not_for_kind(self, i, kind, "mailbox", loc, kinds));
        }
        if let Some(k) = c.keys.iter().find(|k| !schema.keys.contains(&k.key.as_str())) {
            return Err(check::not_for_kind(self, i, kind, &k.key, k.value.referenced.into(), kinds));
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
            tenants,
            mailboxes,
            interval: (interval, c.interval.as_ref().map(|d| Loc::from(d.referenced))),
            timeout: (timeout, c.timeout.as_ref().map(|d| Loc::from(d.referenced))),
            keys: c.keys,
        };
        let settings = (schema.settings)(&mut keys)?;
        keys.finish(kinds)?;
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
