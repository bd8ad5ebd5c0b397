//! Seeding a mailbox's token store as `token init` leaves it, for the
//! tests that refresh through an in-process token endpoint. Included by
//! path (`#[path = "support/tokens.rs"]`) by the files that use it, so no
//! other test binary carries it unused.

use std::path::Path;

use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use secrecy::SecretString;

/// Writes a token store at `path` holding `refresh_token`, issued at
/// `rotated_at` (Unix seconds).
pub fn seed_token_store(path: &Path, refresh_token: &str, rotated_at: i64) {
    TokenStore::new(path.to_path_buf())
        .save(&StoredToken {
            refresh_token: SecretString::from(refresh_token.to_string()),
            rotated_at,
            account: None,
            public_client: false,
        })
        .unwrap_or_else(|e| panic!("seed the token store {}: {e}", path.display()));
}
