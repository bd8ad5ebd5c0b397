//! `kind: tcp`: can this server open a TCP connection to the port?
//! (The guide's "Ports" item: 443, 587, 993, 995 from the services and
//! application servers.)

use tokio::io::AsyncWriteExt;

use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSettings, Target};
use crate::observation::{Failure, Probe};
use crate::proto::net;

pub struct TcpCheck {
    target: Target,
}

pub fn build(cfg: &CheckConfig, _ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let CheckSettings::Tcp { target } = &cfg.settings else {
        return Err(BuildError::Mismatch);
    };
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
