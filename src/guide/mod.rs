//! Cisco's troubleshooting guide ("Troubleshoot ECE OAUTH2 Authentication
//! with Office 365") as an assessment: the guide's check items, in its order,
//! each passed, failed or not checked, with the evidence and the remedy.
//!
//! Input is the validated configuration and the check results (from one
//! `check` run or the scheduler's last results); output is language-free
//! ([`Message`] keys with arguments) so the report can render it in any of
//! the guide's languages. Nothing here runs a check or does I/O.

mod results;
mod version;

use std::collections::BTreeSet;

pub use results::item_for;
use results::{chain, coverage, from_check};
pub use version::{EceVersion, Verdict};

use crate::checks::CheckMeta;
use crate::config::{Config, ServerRole};
use crate::observation::Observation;
pub use crate::reason::GuideItem;
use crate::reason::{Kind, Phase, Reason, label_enum};

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
    /// The detail as a sentence in the report's language, when the agent
    /// wrote it (see [`crate::observation::DetailMessage`]); the report shows
    /// it in place of `detail`.
    pub detail_message: Option<Message>,
    /// `AADSTS70008` and the like, when the token endpoint named one.
    pub aadsts: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The HTTP proxy the check went through (`host:port`, never its
    /// credentials), if any.
    pub proxy: Option<String>,
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
        "ok-network_connectivity-proxy",
        "ok-external_url",
        "ok-azure_ad_application-tenant",
        "evidence-proxy",
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

/// `YYYY-MM-DD` of a Unix time (UTC).
fn date_text(unix: i64) -> String {
    let (y, m, d) = crate::clock::civil_date(unix);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(1_719_705_600), "2024-06-30");
        assert_eq!(date_text(951_782_400), "2000-02-29");
    }
}
