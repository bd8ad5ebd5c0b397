//! What a check kind declares about itself in its file: its config schema
//! (keys, mailbox, settings), its builder, and its place in Cisco's
//! troubleshooting guide ([`KindGuide`]). The registry ([`super::KINDS`])
//! lists one [`KindSpec`] per kind; nothing outside `checks/` matches on a
//! particular kind.

use crate::config::{CheckSchema, Mailbox};
use crate::reason::GuideItem;

use super::{Builder, CheckMeta};

/// One kind of check, as its file declares it.
pub struct KindSpec {
    pub schema: CheckSchema,
    pub build: Builder,
    pub guide: KindGuide,
}

/// Where a kind's results go in the guide's assessment.
pub struct KindGuide {
    /// The item of the kind's own failures that name no item (`internal`).
    pub item: GuideItem,
    /// The items a run passes through, in the order it meets them: without
    /// a mailbox, and with one (its token used).
    pub chain: &'static [GuideItem],
    pub chain_with_mailbox: &'static [GuideItem],
    /// Which use of the ECE server a check of this kind covers.
    pub covers: Covers,
    /// What the guide's sentences name as the check's target.
    pub target: fn(&CheckMeta, Option<&Mailbox>) -> GuideTarget,
    /// A check of this kind whose endpoint is ECE's External URL
    /// (`ece.external_url`) is filed under System Configuration: the guide
    /// asks that URL to be reachable from the server with a valid
    /// certificate (`https`).
    pub files_external_url: bool,
}

/// The items a network-only check passes through.
pub const NETWORK_CHAIN: &[GuideItem] = &[GuideItem::NetworkConnectivity];

impl KindGuide {
    /// A check of the network alone (`dns`, `tcp`, `tls`): Network
    /// Connectivity is its one item, with or without a mailbox; its target
    /// is `host:port`.
    pub const fn network(covers: Covers) -> KindGuide {
        KindGuide {
            item: GuideItem::NetworkConnectivity,
            chain: NETWORK_CHAIN,
            chain_with_mailbox: NETWORK_CHAIN,
            covers,
            target: host_port_target,
            files_external_url: false,
        }
    }
}

/// The uses of the Office 365 endpoints the guide asks to verify from an ECE
/// server: the token endpoint (443), sending (587) and retrieving (993/995).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EceUse {
    Token,
    Smtp,
    Retriever,
}

impl EceUse {
    pub const fn as_str(self) -> &'static str {
        match self {
            EceUse::Token => "token",
            EceUse::Smtp => "smtp",
            EceUse::Retriever => "retriever",
        }
    }

    /// The use of an Office 365 port (443, 587, 993/995).
    pub fn of_port(port: u16) -> Option<EceUse> {
        match port {
            443 => Some(EceUse::Token),
            587 => Some(EceUse::Smtp),
            993 | 995 => Some(EceUse::Retriever),
            _ => None,
        }
    }
}

/// Which use a kind's checks cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covers {
    Nothing,
    Use(EceUse),
    /// The use of the port connected to (`tcp`, `tls`).
    ByPort,
}

/// The check's target as the guide's sentences name it, with its host and
/// port (empty when it has none) for the remedies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuideTarget {
    pub target: String,
    pub host: String,
    pub port: String,
}

/// The target label as `host:port` (or `[v6]:port`).
pub fn host_port_target(meta: &CheckMeta, _mailbox: Option<&Mailbox>) -> GuideTarget {
    split_host_port(meta.target.clone())
}

/// `host:port` split for the remedies; a target without a port is all host.
pub fn split_host_port(target: String) -> GuideTarget {
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(['[', ']']).to_string(), p.to_string()),
        None => (target.split('/').next().unwrap_or_default().to_string(), String::new()),
    };
    GuideTarget { target, host, port }
}
