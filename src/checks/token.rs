//! `kind: token`: the mailbox's OAuth2 token on its own schedule (the
//! guide's "Token Generation" and "Azure AD Application" items). Refreshes
//! ahead of expiry through the mailbox's shared [`TokenProvider`], checks the
//! token's claims, and exports its expiry, lifetime and the refresh token's
//! age. AADSTS errors become their own reasons.

use std::sync::Arc;

use super::kind::{self, Covers, EceUse, GuideTarget, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check, CheckMeta};
use crate::config::{CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, Mailbox, MailboxUse};
use crate::oauth::provider::TokenProvider;
use crate::observation::{Failure, Probe};
use crate::reason::{GuideItem, Kind};

pub const KIND: Kind = Kind::new("token");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &[],
        mailbox: MailboxUse::Required,
        settings,
    },
    build,
    guide: KindGuide {
        item: GuideItem::TokenRefresh,
        chain: CHAIN,
        chain_with_mailbox: CHAIN,
        covers: Covers::Use(EceUse::Token),
        target: guide_target,
        files_external_url: false,
    },
};

const CHAIN: &[GuideItem] = &[
    GuideItem::NetworkConnectivity,
    GuideItem::AzureAdApplication,
    GuideItem::TokenRefresh,
    GuideItem::TokenGeneration,
];

/// A `token` check's settings: all in its mailbox.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSettings {
    /// The mailbox's address: the `target` label.
    pub address: String,
}

impl KindSettings for TokenSettings {
    fn target_label(&self) -> String {
        self.address.clone()
    }
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    Ok(Arc::new(TokenSettings {
        address: keys.mailbox().map(|m| m.address.clone()).unwrap_or_default(),
    }))
}

/// The label names the mailbox; what the check reaches is the token endpoint.
fn guide_target(meta: &CheckMeta, mailbox: Option<&Mailbox>) -> GuideTarget {
    match mailbox {
        Some(mb) => {
            let authority = &mb.tenant.authority;
            kind::split_host_port(authority.split_once("://").map_or(authority.as_str(), |(_, h)| h).to_string())
        }
        None => kind::host_port_target(meta, None),
    }
}

pub struct TokenCheck {
    provider: Arc<TokenProvider>,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let mailbox = cfg.mailbox.as_ref().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(TokenCheck {
        provider: ctx.provider(mailbox)?,
    }))
}

impl Check for TokenCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            self.provider.token(probe).await?;
            Ok(())
        })
    }
}
