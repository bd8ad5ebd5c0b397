//! `kind: tls`: TCP connect plus a verified TLS handshake, exporting the
//! negotiated version, the served chain's earliest expiry and the leaf's
//! issuer (a changed issuer is the mark of TLS inspection).

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::kind::{self, Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, MailboxUse, Target, TlsSettings};
use crate::observation::{Failure, Probe};
use crate::proto::net;
use crate::proto::tls::TlsClient;
use crate::reason::{GuideItem, Kind};

pub const KIND: Kind = Kind::new("tls");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &["target", "server_name", "ca_file", "expected_issuer"],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide {
        item: GuideItem::NetworkConnectivity,
        chain: kind::NETWORK_CHAIN,
        chain_with_mailbox: kind::NETWORK_CHAIN,
        covers: Covers::ByPort,
        target: kind::host_port_target,
    },
};

/// A `tls` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsCheckSettings {
    pub target: Target,
    pub tls: TlsSettings,
}

impl KindSettings for TlsCheckSettings {
    fn target_label(&self) -> String {
        self.target.to_string()
    }

    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    Ok(Arc::new(TlsCheckSettings {
        target: keys.target()?,
        tls: keys.tls_settings()?,
    }))
}

pub struct TlsCheck {
    target: Target,
    tls: TlsClient,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let TlsCheckSettings { target, tls } = cfg.settings::<TlsCheckSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(TlsCheck {
        target: target.clone(),
        tls: TlsClient::new(&mut ctx.tls, tls, target)?,
    }))
}

impl Check for TlsCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let tcp = net::connect(probe, &self.target).await?;
            let mut tls = self.tls.handshake(probe, tcp).await?;
            // Say goodbye properly (close_notify); the verdict is already in.
            let _ = tls.shutdown().await;
            Ok(())
        })
    }
}
