//! Cisco's troubleshooting guide ("Troubleshoot ECE OAUTH2 Authentication
//! with Office 365") as an assessment: the guide's check items, in its order,
//! each passed, failed or not checked, with the evidence and the remedy.
//!
//! Input is the validated configuration and the check results (from one
//! `check` run or the scheduler's last results); output is language-free
//! ([`Message`] keys with arguments) so the report can render it in any of
//! the guide's languages. Nothing here runs a check or does I/O.

mod version;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use version::{EceVersion, Verdict};

use crate::checks::{self, CheckMeta, Covers, EceUse, GuideTarget, KindGuide};
use crate::config::{Config, MailProtocol, Mailbox, MailboxUse, ServerRole};
use crate::observation::Observation;
pub use crate::reason::GuideItem;
use crate::reason::{Kind, Phase, Reason, Route, label_enum};

label_enum! {
    /// The outcome of a check item or of one finding.
    pub enum Status {
        Passed => "passed",
        Failed => "failed",
        NotChecked => "not_checked",
    }
}

/// Days before a client secret's expiry from which the report warns.
const SECRET_WARNING_DAYS: i64 = 30;

/// A translatable sentence: a key of the language files and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Message {
    fn new(key: &'static str) -> Self {
        Message { key, args: Vec::new() }
    }

    fn arg(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// What a failed check showed: enough for a support ticket, never a secret
/// (the detail is the already sanitised, bounded failure detail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub check: String,
    pub kind: Kind,
    pub target: String,
    pub reason: Reason,
    pub phase: Option<Phase>,
    pub detail: String,
    /// `AADSTS70008` and the like, when the token endpoint named one.
    pub aadsts: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

/// One piece of an item's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub message: Message,
    pub evidence: Option<Evidence>,
    /// What to do, for failed findings.
    pub remedy: Option<Message>,
}

/// One check item of the guide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemReport {
    pub item: GuideItem,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// The whole assessment, items in the guide's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub role: Option<ServerRole>,
    pub items: Vec<ItemReport>,
}

impl Assessment {
    /// No item failed (items not checked do not count against it).
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.status != Status::Failed)
    }

    pub fn count(&self, status: Status) -> usize {
        self.items.iter().filter(|i| i.status == status).count()
    }
}

/// One check's latest result, as the assessment reads it.
pub struct CheckResult<'a> {
    pub meta: &'a CheckMeta,
    pub observation: &'a Observation,
}

/// Assesses the configuration and the check results against the guide.
/// `results` may lack checks that have not run yet; `now` is Unix seconds.
pub fn assess(config: &Config, results: &[CheckResult<'_>], now: i64) -> Assessment {
    let mut items: Vec<ItemReport> = GuideItem::ALL
        .iter()
        .map(|&item| ItemReport {
            item,
            status: Status::NotChecked,
            findings: Vec::new(),
        })
        .collect();
    let mut add = |item: GuideItem, finding: Finding| items[item as usize].findings.push(finding);

    minimum_version(config, &mut add);
    system_configuration(config, &mut add);
    client_secrets(config, now, &mut add);
    for r in results {
        from_check(config, r, &mut add);
    }
    let ran: std::collections::HashSet<&str> = results.iter().map(|r| r.meta.name.as_str()).collect();
    for c in &config.checks {
        if !ran.contains(c.name.as_str()) {
            let item = chain(c.kind, c.mailbox.is_some())[0];
            add(item, not_checked(Message::new("check-not-run").arg("check", &c.name)));
        }
    }
    coverage(config, &mut add);

    for report in &mut items {
        if report.findings.is_empty() {
            report.findings.push(not_checked(why_not_checked(report.item, config)));
        }
        report.status = if report.findings.iter().any(|f| f.status == Status::Failed) {
            Status::Failed
        } else if report.findings.iter().any(|f| f.status == Status::Passed) {
            Status::Passed
        } else {
            Status::NotChecked
        };
    }
    Assessment {
        role: config.ece.role,
        items,
    }
}

fn passed(message: Message) -> Finding {
    Finding {
        status: Status::Passed,
        message,
        evidence: None,
        remedy: None,
    }
}

fn not_checked(message: Message) -> Finding {
    Finding {
        status: Status::NotChecked,
        message,
        evidence: None,
        remedy: None,
    }
}

fn failed(message: Message, remedy: Message) -> Finding {
    Finding {
        status: Status::Failed,
        message,
        evidence: None,
        remedy: Some(remedy),
    }
}

fn minimum_version(config: &Config, add: &mut impl FnMut(GuideItem, Finding)) {
    let Some(v) = &config.ece.version else { return };
    let msg = |key| Message::new(key).arg("version", v);
    let finding = match v.verdict() {
        Verdict::Meets { minimum: Some(m) } => passed(msg("version-meets").arg("minimum", m)),
        Verdict::Meets { minimum: None } => passed(msg("version-newer")),
        Verdict::BelowMinimum { minimum } => failed(
            msg("version-below").arg("minimum", &minimum),
            Message::new("remedy-version-below").arg("minimum", &minimum),
        ),
        Verdict::TooOld { minimum } => failed(
            msg("version-too-old").arg("minimum", &minimum),
            Message::new("remedy-version-too-old").arg("minimum", &minimum),
        ),
        Verdict::NotInTable => not_checked(msg("version-not-in-table")),
    };
    add(GuideItem::MinimumVersion, finding);
}

fn system_configuration(config: &Config, add: &mut impl FnMut(GuideItem, Finding)) {
    let (Some(external), Some(redirect)) = (&config.ece.external_url, &config.ece.redirect_uri) else {
        return;
    };
    let host = |u: &url::Url| u.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    let (e, r) = (host(external), host(redirect));
    let finding = if e == r {
        passed(Message::new("urls-match").arg("host", e))
    } else {
        failed(
            Message::new("urls-differ").arg("external", &e).arg("redirect", &r),
            Message::new("remedy-urls-differ").arg("external", &e).arg("redirect", &r),
        )
    };
    add(GuideItem::SystemConfiguration, finding);
}

fn client_secrets(config: &Config, now: i64, add: &mut impl FnMut(GuideItem, Finding)) {
    for t in &config.tenants {
        let Some(expires) = t.client_secret_expires else { continue };
        let date = date_text(expires);
        let days = (expires - now).div_euclid(86_400);
        let msg = |key| Message::new(key).arg("tenant", &t.name).arg("date", &date).arg("days", days);
        let finding = if expires <= now {
            failed(
                msg("secret-expired"),
                Message::new("remedy-secret-expired").arg("tenant", &t.name).arg("date", &date),
            )
        } else if days < SECRET_WARNING_DAYS {
            passed(msg("secret-expires-soon"))
        } else {
            passed(msg("secret-valid"))
        };
        add(GuideItem::AzureAdApplication, finding);
    }
}

/// A kind's place in the guide; a kind the registry does not know (none
/// should exist) counts as a network check.
fn guide_of(kind: Kind) -> &'static KindGuide {
    static NETWORK: KindGuide = KindGuide {
        item: GuideItem::NetworkConnectivity,
        chain: checks::NETWORK_CHAIN,
        chain_with_mailbox: checks::NETWORK_CHAIN,
        covers: Covers::Nothing,
        target: checks::host_port_target,
    };
    checks::spec(kind).map_or(&NETWORK, |s| &s.guide)
}

/// The items a check passes through, in the order it meets them.
fn chain(kind: Kind, authenticated: bool) -> &'static [GuideItem] {
    let guide = guide_of(kind);
    if authenticated { guide.chain_with_mailbox } else { guide.chain }
}

/// The check item a failure belongs to (declared with the reason). A shared
/// account's refused login points at its rights on the mailbox; a mailbox
/// account's at the protocol.
pub fn item_for(reason: Reason, kind: Kind, shared: bool) -> GuideItem {
    match reason.route(shared) {
        Route::Item(item) => item,
        Route::CheckItem => guide_of(kind).item,
    }
}

/// Every message key the assessment can produce, for the language files' test.
pub fn message_keys() -> BTreeSet<&'static str> {
    let mut keys: BTreeSet<&'static str> = Reason::ALL.iter().flat_map(|r| [r.remedy_key(false), r.remedy_key(true)]).collect();
    keys.extend([
        "remedy-version-below",
        "remedy-version-too-old",
        "remedy-urls-differ",
        "remedy-secret-expired",
        "version-meets",
        "version-newer",
        "version-below",
        "version-too-old",
        "version-not-in-table",
        "urls-match",
        "urls-differ",
        "secret-expired",
        "secret-expires-soon",
        "secret-valid",
        "check-not-run",
        "check-failed",
        "blocked",
        "port-not-checked",
        "protocol-not-checked",
    ]);
    for item in GuideItem::ALL {
        keys.insert(ok_key(*item));
        keys.insert(why_key(*item));
    }
    keys
}

fn ok_key(item: GuideItem) -> &'static str {
    match item {
        GuideItem::MinimumVersion => "ok-minimum_version",
        GuideItem::SystemConfiguration => "ok-system_configuration",
        GuideItem::AzureAdApplication => "ok-azure_ad_application",
        GuideItem::TokenGeneration => "ok-token_generation",
        GuideItem::MailboxConfiguration => "ok-mailbox_configuration",
        GuideItem::ExchangeLicense => "ok-exchange_license",
        GuideItem::MailboxRights => "ok-mailbox_rights",
        GuideItem::NetworkConnectivity => "ok-network_connectivity",
        GuideItem::TokenRefresh => "ok-token_refresh",
    }
}

fn why_key(item: GuideItem) -> &'static str {
    match item {
        GuideItem::MinimumVersion => "why-minimum_version",
        GuideItem::SystemConfiguration => "why-system_configuration",
        GuideItem::AzureAdApplication => "why-azure_ad_application",
        GuideItem::TokenGeneration => "why-token_generation",
        GuideItem::MailboxConfiguration => "why-mailbox_configuration",
        GuideItem::ExchangeLicense => "why-exchange_license",
        GuideItem::MailboxRights => "why-mailbox_rights",
        GuideItem::NetworkConnectivity => "why-network_connectivity",
        GuideItem::TokenRefresh => "why-token_refresh",
    }
}

/// Why an item has no finding at all: what to configure to check it.
fn why_not_checked(item: GuideItem, config: &Config) -> Message {
    let msg = Message::new(why_key(item));
    match item {
        GuideItem::SystemConfiguration => msg
            .arg("external", u8::from(config.ece.external_url.is_some()))
            .arg("redirect", u8::from(config.ece.redirect_uri.is_some())),
        GuideItem::AzureAdApplication | GuideItem::TokenGeneration | GuideItem::TokenRefresh => {
            msg.arg("tenants", config.tenants.len()).arg("mailboxes", config.mailboxes.len())
        }
        _ => msg.arg("mailboxes", config.mailboxes.len()),
    }
}

fn from_check(config: &Config, r: &CheckResult<'_>, add: &mut impl FnMut(GuideItem, Finding)) {
    let meta = r.meta;
    let obs = r.observation;
    let mailbox: Option<&Mailbox> = meta
        .mailbox
        .as_deref()
        .and_then(|name| config.mailboxes.iter().find(|m| m.name == name))
        .map(|m| &**m);
    let shared = mailbox.is_some_and(|m| m.auth_user.is_some());
    let chain = chain(meta.kind, mailbox.is_some());
    let failed_item = obs.reason().map(|reason| item_for(reason, meta.kind, shared));
    // A failure off the chain (this server's own limits) happened before the
    // chain's first item was tried: nothing on it passed.
    let stop = match failed_item {
        Some(f) => chain.iter().position(|i| *i == f).unwrap_or(0),
        None => chain.len(),
    };

    // What the sentences name: a token check's label is its mailbox, but
    // what it reaches is the token endpoint (the kind decides).
    let GuideTarget { target, host, port } = (guide_of(meta.kind).target)(meta, mailbox);
    let base = |key: &'static str| {
        let m = Message::new(key).arg("check", &meta.name).arg("target", &target);
        match mailbox {
            Some(mb) => m
                .arg("mailbox", &mb.address)
                .arg("user", mb.token_user())
                .arg("tenant", &mb.tenant.name)
                .arg("protocol", meta.kind.as_str().to_ascii_uppercase()),
            None => m
                .arg("mailbox", "")
                .arg("user", "")
                .arg("tenant", "")
                .arg("protocol", meta.kind.as_str().to_ascii_uppercase()),
        }
    };
    for &item in &chain[..stop] {
        let mut msg = base(ok_key(item));
        if item == GuideItem::MailboxRights {
            msg = msg.arg("model", if shared { "shared" } else { "own" });
        }
        if item == GuideItem::TokenGeneration {
            let minutes = obs.facts.token.as_ref().and_then(|t| t.lifetime).map(|l| l / 60).unwrap_or(0);
            msg = msg.arg("minutes", minutes);
        }
        add(item, passed(msg));
    }
    if let (Some(item), Err(f)) = (failed_item, &obs.outcome) {
        let (aadsts, trace_id, correlation_id) = token_ids(&f.detail);
        let evidence = Evidence {
            check: meta.name.clone(),
            kind: meta.kind,
            target: meta.target.clone(),
            reason: f.reason,
            phase: obs.failed_phase,
            detail: f.detail.clone(),
            aadsts,
            trace_id,
            correlation_id,
        };
        let remedy = base(f.reason.remedy_key(shared)).arg("port", port);
        let msg = base("check-failed")
            .arg("reason", f.reason)
            .arg("phase", obs.failed_phase.map(Phase::as_str).unwrap_or("-"));
        add(
            item,
            Finding {
                status: Status::Failed,
                message: msg,
                evidence: Some(evidence),
                remedy: Some(remedy.arg("host", host)),
            },
        );
        for &later in chain.iter().skip(stop + 1) {
            add(later, not_checked(base("blocked").arg("reason", f.reason)));
        }
    }
}

/// `AADSTS<digits>`, `trace_id=` and `correlation_id=` from a token failure's detail.
fn token_ids(detail: &str) -> (Option<String>, Option<String>, Option<String>) {
    let aadsts = detail.find("AADSTS").map(|i| {
        let digits: String = detail[i + 6..].chars().take_while(char::is_ascii_digit).collect();
        format!("AADSTS{digits}")
    });
    let id = |key: &str| {
        detail.find(key).map(|i| {
            detail[i + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect::<String>()
        })
    };
    (aadsts.filter(|a| a.len() > 6), id("trace_id="), id("correlation_id="))
}

/// What the guide asks for that no configured check covers: the ports of the
/// server's role, and per mailbox SMTP plus IMAP or POP3.
fn coverage(config: &Config, add: &mut impl FnMut(GuideItem, Finding)) {
    // What each check exercises: by its protocol, or for TCP/TLS by the port.
    let mut uses: BTreeSet<EceUse> = BTreeSet::new();
    for c in &config.checks {
        let used = match guide_of(c.kind).covers {
            Covers::Nothing => None,
            Covers::Use(u) => Some(u),
            Covers::ByPort => c.settings.endpoint().and_then(|t| EceUse::of_port(t.port)),
        };
        uses.extend(used);
    }
    let role = config.ece.role.unwrap_or(ServerRole::Both);
    let mut needed = vec![("443", EceUse::Token), ("587", EceUse::Smtp)];
    if role.runs_services() {
        needed.push(("993/995", EceUse::Retriever));
    }
    for (port, use_) in needed {
        if !uses.contains(&use_) {
            add(
                GuideItem::NetworkConnectivity,
                not_checked(Message::new("port-not-checked").arg("port", port).arg("use", use_.as_str())),
            );
        }
    }
    for mb in &config.mailboxes {
        // The protocols this mailbox's checks speak.
        let spoken: BTreeSet<MailProtocol> = config
            .checks
            .iter()
            .filter(|c| c.mailbox.as_ref().is_some_and(|m| Arc::ptr_eq(m, mb) || m.name == mb.name))
            .filter_map(|c| match checks::spec(c.kind).map(|s| s.schema.mailbox) {
                Some(MailboxUse::Optional(p)) => Some(p),
                _ => None,
            })
            .collect();
        let mut missing = Vec::new();
        if !spoken.contains(&MailProtocol::Smtp) {
            missing.push("SMTP");
        }
        if !spoken.contains(&MailProtocol::Imap) && !spoken.contains(&MailProtocol::Pop3) {
            missing.push("IMAP/POP3");
        }
        for protocol in missing {
            add(
                GuideItem::MailboxConfiguration,
                not_checked(
                    Message::new("protocol-not-checked")
                        .arg("mailbox", &mb.address)
                        .arg("protocol", protocol),
                ),
            );
        }
    }
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn date_text(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_belongs_to_an_item_on_its_checks_chain() {
        let mail_only = [
            Reason::SmtpAuthDisabled,
            Reason::AuthMechanismNotOffered,
            Reason::AuthRejected,
            Reason::MailboxNotFound,
        ];
        assert_eq!(checks::KINDS.len(), 7);
        for spec in checks::KINDS {
            let kind = &spec.schema.kind;
            let authenticated = spec.schema.mailbox != MailboxUse::NotUsed;
            // The reasons each kind of check can end with.
            let possible = Reason::ALL.iter().filter(|r| match spec.schema.mailbox {
                MailboxUse::Optional(_) => true,
                MailboxUse::Required => !mail_only.contains(r),
                MailboxUse::NotUsed => !mail_only.contains(r) && !r.as_str().starts_with("token_"),
            });
            for reason in possible {
                for shared in [false, true] {
                    let item = item_for(*reason, *kind, shared);
                    if *reason == Reason::LocalResourceExhausted {
                        // This server's own limits: off every chain, never the network.
                        assert_eq!(item, GuideItem::SystemConfiguration);
                        continue;
                    }
                    assert!(chain(*kind, authenticated).contains(&item), "{kind} {reason} -> {item}");
                }
            }
        }
        // Without a token only the network item can fail.
        for reason in [
            Reason::ConnectRefused,
            Reason::TlsCertUntrusted,
            Reason::StarttlsNotOffered,
            Reason::Timeout,
        ] {
            assert_eq!(item_for(reason, checks::imap::KIND, false), GuideItem::NetworkConnectivity);
        }
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(1_719_705_600), "2024-06-30");
        assert_eq!(date_text(951_782_400), "2000-02-29");
    }

    #[test]
    fn token_ids_are_read_from_the_detail() {
        let (a, t, c) =
            token_ids("invalid_grant: AADSTS70008: The refresh token has expired (trace_id=0b9a1c2d-0000, correlation_id=5f3e9a7b-1111)");
        assert_eq!(a.as_deref(), Some("AADSTS70008"));
        assert_eq!(t.as_deref(), Some("0b9a1c2d-0000"));
        assert_eq!(c.as_deref(), Some("5f3e9a7b-1111"));
        assert_eq!(token_ids("connection refused"), (None, None, None));
        assert_eq!(token_ids("AADSTS").0, None);
    }
}
