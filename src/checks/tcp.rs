//! `kind: tcp`: can this server open a TCP connection to the port?
//! (The guide's "Ports" item: 443, 587, 993, 995 from the services and
//! application servers.) Through `global.proxy` or its own `proxy`, it asks
//! whether the proxy opens a tunnel to that port.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::kind::{Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSchema, ConfigError, DynSettings, Inherit, KindKeys, KindSettings, MailboxUse, Proxy, Target};
use crate::observation::{Failure, Probe};
use crate::proto::proxy;
use crate::reason::Kind;

pub const KIND: Kind = Kind::new("tcp");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &["target", "proxy", "proxy_user", "proxy_password"],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide::network(Covers::ByPort),
};

/// A `tcp` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpSettings {
    pub target: Target,
    /// The proxy whose tunnel is tested instead of a direct connection.
    pub proxy: Option<Proxy>,
}

impl KindSettings for TcpSettings {
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
    Ok(Arc::new(TcpSettings { target, proxy }))
}

pub struct TcpCheck {
    target: Target,
    proxy: Option<Proxy>,
}

pub fn build(cfg: &CheckConfig, _ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let TcpSettings { target, proxy } = cfg.settings::<TcpSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(TcpCheck {
        target: target.clone(),
        proxy: proxy.clone(),
    }))
}

impl Check for TcpCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let mut stream = proxy::connect(probe, &self.target, self.proxy.as_ref()).await?;
            let _ = stream.shutdown().await;
            Ok(())
        })
    }
}
