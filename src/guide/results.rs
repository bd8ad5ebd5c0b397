//! The findings that come from check results: which guide items a check
//! passes through (declared by its kind, [`crate::checks::KindGuide`]),
//! which one a failure belongs to (declared with its reason), and what the
//! configured checks leave uncovered (ports and mailbox protocols).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{CheckResult, Evidence, Finding, GuideItem, Message, Status, not_checked, ok_key, passed};
use crate::checks::{self, Covers, EceUse, GuideTarget, KindGuide};
use crate::config::{Config, MailProtocol, Mailbox, MailboxUse, ServerRole};
use crate::reason::{Kind, Phase, Reason, Route};

/// A kind's place in the guide; a kind the registry does not know (none
/// should exist) counts as a network check.
fn guide_of(kind: Kind) -> &'static KindGuide {
    static NETWORK: KindGuide = KindGuide {
        item: GuideItem::NetworkConnectivity,
        chain: checks::NETWORK_CHAIN,
        chain_with_mailbox: checks::NETWORK_CHAIN,
        covers: Covers::Nothing,
        target: checks::host_port_target,
        files_external_url: false,
    };
    checks::spec(kind).map_or(&NETWORK, |s| &s.guide)
}

/// The items a check passes through, in the order it meets them.
pub(super) fn chain(kind: Kind, authenticated: bool) -> &'static [GuideItem] {
    let guide = guide_of(kind);
    if authenticated { guide.chain_with_mailbox } else { guide.chain }
}

/// The item of a check of ECE's External URL: the guide's System
/// Configuration asks that URL to be reachable from the server with a
/// certificate valid for its name, so every result of it is filed there.
const EXTERNAL_URL_CHAIN: &[GuideItem] = &[GuideItem::SystemConfiguration];

/// Whether check `name` reaches ECE's External URL (same host and port) and
/// its kind files such a check under System Configuration.
fn reaches_external_url(config: &Config, name: &str, kind: Kind) -> bool {
    let Some(external) = &config.ece.external_url else {
        return false;
    };
    if !guide_of(kind).files_external_url {
        return false;
    }
    let host = |h: &str| h.trim_end_matches('.').trim_matches(['[', ']']).to_ascii_lowercase();
    let (Some(ext_host), Some(ext_port)) = (external.host_str(), external.port_or_known_default()) else {
        return false;
    };
    config
        .checks
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.settings.endpoint())
        .is_some_and(|t| host(&t.host) == host(ext_host) && t.port == ext_port)
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

/// What one check result says about each item of its chain.
pub(super) fn from_check(config: &Config, r: &CheckResult<'_>, add: &mut impl FnMut(GuideItem, Finding)) {
    let meta = r.meta;
    let obs = r.observation;
    // A run that failed on another mailbox than its own (a mail flow run on
    // its probe mailbox): that mailbox is the one to name, with its protocol.
    let other = if obs.success() { None } else { obs.facts.other_mailbox.as_ref() };
    let mailbox: Option<&Mailbox> = other
        .map(|(name, _)| &**name)
        .or(meta.mailbox.as_deref())
        .and_then(|name| config.mailboxes.iter().find(|m| m.name == name))
        .map(|m| &**m);
    let shared = mailbox.is_some_and(|m| m.auth_user.is_some());
    let external_url = reaches_external_url(config, &meta.name, meta.kind);
    let chain = if external_url {
        EXTERNAL_URL_CHAIN
    } else {
        chain(meta.kind, mailbox.is_some())
    };
    let failed_item = obs.reason().map(|reason| match external_url {
        true => GuideItem::SystemConfiguration,
        false => item_for(reason, meta.kind, shared),
    });
    // A failure off the chain (this server's own limits) happened before the
    // chain's first item was tried: nothing on it passed.
    let stop = match failed_item {
        Some(f) => chain.iter().position(|i| *i == f).unwrap_or(0),
        None => chain.len(),
    };

    // What the sentences name: a token check's label is its mailbox, but
    // what it reaches is the token endpoint (the kind decides).
    let GuideTarget { target, host, port } = (guide_of(meta.kind).target)(meta, mailbox);
    // The proxy in the path, as the check's settings know it: host:port only.
    let proxy: Option<String> = config
        .checks
        .iter()
        .find(|c| c.name == meta.name)
        .and_then(|c| c.settings.proxy())
        .map(|p| p.address.to_string());
    // The mail protocol a check speaks as the mailbox it names (a mailflow
    // check submits over SMTP, and reads its probe mailbox over IMAP); else
    // its kind's name.
    let protocol = match (other, checks::spec(meta.kind).map(|s| s.schema.mailbox)) {
        (Some((_, p)), _) => p.to_ascii_uppercase(),
        (None, Some(MailboxUse::Optional(p))) => p.as_str().to_ascii_uppercase(),
        _ => meta.kind.as_str().to_ascii_uppercase(),
    };
    let base = |key: &'static str| {
        let m = Message::new(key).arg("check", &meta.name).arg("target", &target);
        match mailbox {
            Some(mb) => m
                .arg("mailbox", &mb.address)
                .arg("user", mb.token_user())
                .arg("tenant", &mb.tenant.name)
                .arg("protocol", &protocol),
            None => m.arg("mailbox", "").arg("user", "").arg("tenant", "").arg("protocol", &protocol),
        }
    };
    for &item in &chain[..stop] {
        let mut msg = match (&proxy, &obs.facts.tenant) {
            (Some(p), _) if item == GuideItem::NetworkConnectivity => base("ok-network_connectivity-proxy").arg("proxy", p),
            _ if external_url => base("ok-external_url"),
            (_, Some(t)) if item == GuideItem::AzureAdApplication => base("ok-azure_ad_application-tenant")
                .arg("tenant", &t.tenant)
                .arg("tenant_id", &t.directory_id),
            _ => base(ok_key(item)),
        };
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
            detail_message: f.message.as_ref().map(|m| Message {
                key: m.key,
                args: m.args.clone(),
            }),
            aadsts,
            trace_id,
            correlation_id,
            proxy: proxy.clone(),
        };
        // Which variant of the remedy applies, when the server's reply says (bounded: `Hint`).
        let hint = f.hint.map_or("none", crate::reason::Hint::as_str);
        let remedy = base(f.reason.remedy_key(shared)).arg("port", port).arg("hint", hint);
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
pub(super) fn coverage(config: &Config, add: &mut impl FnMut(GuideItem, Finding)) {
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
        // A probe mailbox (a mail flow check's `to`) that ECE does not use
        // is no ECE mailbox: nothing of it is missing.
        let probe_only = config
            .checks
            .iter()
            .any(|c| c.settings.probe_mailbox().is_some_and(|(m, _, _)| m == mb.name))
            && !config.checks.iter().any(|c| c.mailbox.as_ref().is_some_and(|m| m.name == mb.name));
        if probe_only {
            continue;
        }
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
            Reason::MailboxRightsMissing,
            Reason::SendAsDenied,
            Reason::SenderBlocked,
            Reason::SendingLimitReached,
            Reason::RecipientRejected,
            Reason::SubmissionDeferred,
            Reason::MessageNotDelivered,
            Reason::CleanupFailed,
        ];
        assert_eq!(checks::KINDS.len(), 10);
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
        // A tenant check's unknown tenant is the Azure AD application's item.
        assert_eq!(
            item_for(Reason::TokenUnknownTenant, checks::tenant::KIND, false),
            GuideItem::AzureAdApplication
        );
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
