//! OAuth2 for the authenticated checks: the Microsoft identity platform v2.0
//! token endpoint ([`endpoint`]) and the on-disk refresh token store
//! ([`store`]), and reading an access token's claims ([`jwt`]). Secrets live in `secrecy` types, whose `Debug` is redacted;
//! nothing in this module logs a secret or puts one in an error.

pub mod endpoint;
pub mod jwt;
pub mod provider;
pub mod store;
