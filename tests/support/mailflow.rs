//! The setup a mail flow test needs whatever its servers: a token endpoint
//! for each mailbox (the agent checks whose token it is), their token
//! stores, and the configuration of one `mailflow` check from ECE's mailbox
//! `support` to the probe mailbox `probe`. Included by path by the files
//! that use it (with `support/tokens.rs` as `tokens`).

use std::path::Path;

use test_support::jwt::{self, OAuthKey};
use test_support::pki::Pki;
use test_support::token_server::{Behaviour, TokenServer};

/// ECE's mailbox: the test message is sent as it.
pub const SUPPORT: &str = "support@contoso.com";
/// The probe mailbox the message is sent to and read from.
pub const PROBE: &str = "ece-probe@contoso.com";
/// The check's name in [`config`].
pub const CHECK: &str = "mailflow-support";

/// Token endpoints issuing `support` and `probe` each their own token, signed
/// with `key`, and both mailboxes' token stores and the client secret in `dir`.
pub async fn token_servers(pki: &Pki, key: &OAuthKey) -> [TokenServer; 2] {
    let issue = |user: &str, scp: &str| Behaviour::Issue {
        access_token: jwt::delegated_exchange_jwt(key, user, scp, 3600),
        expires_in: 3600,
        rotate: false,
    };
    let support = TokenServer::start(pki, issue(SUPPORT, "SMTP.Send")).await;
    let probe = TokenServer::start(pki, issue(PROBE, "IMAP.AccessAsUser.All")).await;
    let dir: &Path = pki.dir.path();
    std::fs::write(dir.join("client-secret.txt"), "mailflow-test-client-secret").unwrap();
    for store in ["support.token", "probe.token"] {
        super::tokens::seed_token_store(&dir.join(store), "mailflow-test-refresh-token", 1_700_000_000);
    }
    [support, probe]
}

/// One mailflow check from `support` (SMTP at `smtp`) to `probe` (IMAP at
/// `imap`), both servers named `localhost` in their certificates.
pub fn config(tokens: &[TokenServer; 2], smtp: &str, imap: &str, timeout: &str) -> String {
    format!(
        "global:\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    authority: {support_authority}
  - name: contoso-probe
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    authority: {probe_authority}
mailboxes:
  - name: support
    address: {SUPPORT}
    tenant: contoso
    token_store: support.token
    protocols: [smtp]
  - name: probe
    address: {PROBE}
    tenant: contoso-probe
    token_store: probe.token
    protocols: [imap]
checks:
  - name: {CHECK}
    kind: mailflow
    mailbox: support
    to: probe
    target: {smtp}
    server_name: localhost
    receive_target: {imap}
    receive_server_name: localhost
    interval: 15m
    timeout: {timeout}
",
        support_authority = tokens[0].authority(),
        probe_authority = tokens[1].authority(),
    )
}
