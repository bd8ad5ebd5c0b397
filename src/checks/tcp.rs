//! `kind: tcp`: can this server open a TCP connection to the port?
//! (The guide's "Ports" item: 443, 587, 993, 995 from the services and
//! application servers.)

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::kind::{self, Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, MailboxUse, Target};
use crate::observation::{Failure, Probe};
use crate::proto::net;
use crate::reason::{GuideItem, Kind};

pub const KIND: Kind = Kind::new("tcp");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &["target"],
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

/// A `tcp` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpSettings {
    pub target: Target,
}

impl KindSettings for TcpSettings {
    fn target_label(&self) -> String {
        self.target.to_string()
    }

    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    Ok(Arc::new(TcpSettings { target: keys.target()? }))
}

pub struct TcpCheck {
    target: Target,
}

pub fn build(cfg: &CheckConfig, _ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let TcpSettings { target } = cfg.settings::<TcpSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(TcpCheck { target: target.clone() }))
}

impl Check for TcpCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let mut stream = net::connect(probe, &self.target).await?;
            let _ = stream.shutdown().await;
            Ok(())
        })
    }
}
