//! `kind: token`: the mailbox's OAuth2 token on its own schedule (the
//! guide's "Token Generation" and "Azure AD Application" items). Refreshes
//! ahead of expiry through the mailbox's shared [`TokenProvider`], checks the
//! token's claims, and exports its expiry, lifetime and the refresh token's
//! age. AADSTS errors become their own reasons.

use std::sync::Arc;

use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::CheckConfig;
use crate::oauth::provider::TokenProvider;
use crate::observation::{Failure, Probe};

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
