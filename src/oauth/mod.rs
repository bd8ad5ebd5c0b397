//! OAuth2 for the authenticated checks: the Microsoft identity platform v2.0
//! token endpoint ([`endpoint`]), the on-disk refresh token store
//! ([`store`]), reading an access token's claims ([`jwt`]), and the
//! per-mailbox token source that ties them together ([`provider`]), and
//! the `token init` bootstrap with the device code flow ([`init`]).
//!
//! Secrets live in `secrecy` types, whose `Debug` is redacted; nothing here
//! logs a secret or puts one in an error, a metric or a label.

pub mod endpoint;
pub mod init;
pub mod jwt;
pub mod provider;
pub mod store;
