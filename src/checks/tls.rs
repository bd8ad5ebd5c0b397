//! `kind: tls`: TCP connect plus a verified TLS handshake, exporting the
//! negotiated version, the served chain's earliest expiry and the leaf's
//! issuer (a changed issuer is the mark of TLS inspection). Through a proxy
//! the handshake runs in its `CONNECT` tunnel, so the facts are those of the
//! certificate the proxy lets through or presents itself: with
//! `expected_issuer`, this is the TLS inspection detector.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::kind::{Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{
    CheckConfig, CheckSchema, ConfigError, DynSettings, Inherit, KindKeys, KindSettings, MailboxUse, Proxy, Target, TlsSettings,
};
use crate::observation::{Failure, Probe};
use crate::proto::proxy;
use crate::proto::tls::TlsClient;
use crate::reason::Kind;

pub const KIND: Kind = Kind::new("tls");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &[
            "target",
            "server_name",
            "ca_file",
            "expected_issuer",
            "proxy",
            "proxy_user",
            "proxy_password",
        ],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide::network(Covers::ByPort),
};

/// A `tls` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsCheckSettings {
    pub target: Target,
    pub tls: TlsSettings,
    pub proxy: Option<Proxy>,
}

impl KindSettings for TlsCheckSettings {
    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    let target = keys.target()?;
    let proxy = keys.proxy(&target, Inherit::Global)?;
    Ok(Arc::new(TlsCheckSettings {
        target,
        tls: keys.tls_settings()?,
        proxy,
    }))
}

pub struct TlsCheck {
    target: Target,
    tls: TlsClient,
    proxy: Option<Proxy>,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let TlsCheckSettings { target, tls, proxy } = cfg.settings::<TlsCheckSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(TlsCheck {
        target: target.clone(),
        tls: TlsClient::new(&mut ctx.tls, tls, target)?,
        proxy: proxy.clone(),
    }))
}

impl Check for TlsCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let tcp = proxy::connect(probe, &self.target, self.proxy.as_ref()).await?;
            let mut tls = self.tls.handshake(probe, tcp).await?;
            // Say goodbye properly (close_notify); the verdict is already in.
            let _ = tls.shutdown().await;
            Ok(())
        })
    }
}
