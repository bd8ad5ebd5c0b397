//! `kind: tls`: TCP connect plus a verified TLS handshake, exporting the
//! negotiated version, the served chain's earliest expiry and the leaf's
//! issuer (a changed issuer is the mark of TLS inspection).

use tokio::io::AsyncWriteExt;

use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSettings, Target};
use crate::observation::{Failure, Probe};
use crate::proto::net;
use crate::proto::tls::TlsClient;

pub struct TlsCheck {
    target: Target,
    tls: TlsClient,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let CheckSettings::Tls { target, tls } = &cfg.settings else {
        return Err(BuildError::Mismatch);
    };
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
