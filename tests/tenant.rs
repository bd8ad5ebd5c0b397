//! `kind: tenant` against an in-process OpenID metadata server on loopback
//! (`test_support::https` answering as Azure AD does): a tenant it knows, an
//! unknown tenant (Azure AD's 400 with AADSTS90002), an issuer of another
//! directory, the tenant's proxy, the config's refusals, and the report's
//! "Azure AD Application" item and ECE's External URL filed under "System
//! Configuration" by the real binary's `check`.
#![allow(clippy::unwrap_used)]

mod support;
#[path = "support/verdict.rs"]
mod verdict;

use std::path::Path;

use ece_o365_exporter::config::Config;
use ece_o365_exporter::reason::{Phase, Reason};
use serde_json::Value;
use support::run_first;
use test_support::https::{Answer, HttpsServer, https};
use test_support::pki::{Leaf, Pki};
use test_support::proxy::{ConnectProxy, Mode};
use verdict::{assert_fails, assert_ok, phases};

const DIRECTORY: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET: &str = "canary-tenant-secret";
const METADATA_PATH: &str = "/v2.0/.well-known/openid-configuration";

/// Azure AD's metadata document for a directory, naming the server that
/// serves it as the token endpoint's host (as Azure AD names itself).
fn metadata(directory: &str) -> Answer {
    Answer::Status {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        body: format!(
            r#"{{"token_endpoint":"{{origin}}/{directory}/oauth2/v2.0/token","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],"jwks_uri":"{{origin}}/{directory}/discovery/v2.0/keys","response_modes_supported":["query","fragment","form_post"],"issuer":"https://login.microsoftonline.com/{directory}/v2.0","request_uri_parameter_supported":false,"tenant_region_scope":"EU","cloud_instance_name":"microsoftonline.com"}}"#
        ),
    }
}

/// Azure AD's answer for a tenant it does not know.
fn unknown_tenant(tenant: &str) -> Answer {
    Answer::Status {
        status: 400,
        headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        body: format!(
            r#"{{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.\r\nTrace ID: 0b8e6a1c-0000-4000-8000-000000000000\r\nCorrelation ID: 4c1d2e3f-1111-4111-8111-111111111111\r\nTimestamp: 2026-12-03 21:00:00Z","error_codes":[90002],"timestamp":"2026-12-03 21:00:00Z","trace_id":"0b8e6a1c-0000-4000-8000-000000000000","correlation_id":"4c1d2e3f-1111-4111-8111-111111111111","error_uri":"https://login.microsoftonline.com/error?code=90002"}}"#
        ),
    }
}

/// A config whose tenant `contoso` has `server` as its authority, with a
/// tenant check of it (and `extra` lines after everything).
fn config(server: &HttpsServer, tenant_id: &str, tenant_extra: &str, extra: &str) -> String {
    format!(
        "tenants:\n  - name: contoso\n    tenant_id: {tenant_id}\n    client_id: 11111111-2222-3333-4444-555555555555\n    \
         client_secret: file:tenant-secret\n    authority: https://{}\n{tenant_extra}\
         checks:\n  - name: tenant-contoso\n    kind: tenant\n    tenant: contoso\n    ca_file: ca.pem\n    timeout: 5s\n{extra}",
        server.target()
    )
}

/// The test server, with the tenant's client secret written beside the
/// config (a tenant check must never send it).
async fn server(pki: &Pki, answer: Answer) -> HttpsServer {
    std::fs::write(pki.dir.path().join("tenant-secret"), SECRET).unwrap();
    https(pki.server_config(Leaf::Good), answer).await
}

#[tokio::test]
async fn a_known_tenant_passes_and_names_its_directory_without_sending_a_credential() {
    let pki = Pki::new();
    let srv = server(&pki, metadata(DIRECTORY)).await;
    let obs = run_first(pki.dir.path(), &config(&srv, DIRECTORY, "", "")).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::Tls, Phase::Http]);
    let found = obs.facts.tenant.clone().unwrap();
    assert_eq!((found.tenant.as_str(), found.directory_id.as_str()), ("contoso", DIRECTORY));
    assert_eq!(obs.facts.http_status, Some(200));
    let requests = srv.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(
        request.starts_with(&format!("GET /{DIRECTORY}{METADATA_PATH} HTTP/1.1\r\n")),
        "{request}"
    );
    assert!(!request.to_ascii_lowercase().contains("authorization"), "{request}");
    assert!(!request.contains(SECRET), "{request}");
}

#[tokio::test]
async fn a_domain_as_tenant_id_passes_with_the_directory_it_resolves_to() {
    let pki = Pki::new();
    let srv = server(&pki, metadata(DIRECTORY)).await;
    let obs = run_first(pki.dir.path(), &config(&srv, "contoso.onmicrosoft.com", "", "")).await;
    assert_ok(&obs);
    assert_eq!(obs.facts.tenant.unwrap().directory_id, DIRECTORY);
    assert!(srv.requests()[0].starts_with(&format!("GET /contoso.onmicrosoft.com{METADATA_PATH} ")));
}

#[tokio::test]
async fn azure_ads_unknown_tenant_answer_is_token_unknown_tenant() {
    let pki = Pki::new();
    let srv = server(&pki, unknown_tenant("nosuch.onmicrosoft.com")).await;
    let obs = run_first(pki.dir.path(), &config(&srv, "nosuch.onmicrosoft.com", "", "")).await;
    let detail = assert_fails(&obs, Reason::TokenUnknownTenant, Phase::Http);
    assert!(
        detail.contains("AADSTS90002: Tenant 'nosuch.onmicrosoft.com' not found"),
        "{detail}"
    );
    assert_eq!(obs.facts.tenant, None);
    assert_eq!(obs.facts.http_status, Some(400));
}

#[tokio::test]
async fn an_issuer_of_another_directory_is_token_unknown_tenant() {
    let pki = Pki::new();
    let other = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let srv = server(&pki, metadata(other)).await;
    let obs = run_first(pki.dir.path(), &config(&srv, DIRECTORY, "", "")).await;
    let detail = assert_fails(&obs, Reason::TokenUnknownTenant, Phase::Http);
    assert!(detail.contains(other) && detail.contains(DIRECTORY), "{detail}");
}

#[tokio::test]
async fn other_statuses_and_broken_documents_are_named() {
    let pki = Pki::new();
    let cases = [
        (Answer::status(500), Reason::HttpUnexpectedStatus),
        (
            Answer::Status {
                status: 200,
                headers: Vec::new(),
                body: "<html>sign in</html>".into(),
            },
            Reason::HttpBadResponse,
        ),
        (
            Answer::Status {
                status: 200,
                headers: Vec::new(),
                body: format!(
                    r#"{{"issuer":"https://login.microsoftonline.com/{DIRECTORY}/v2.0","token_endpoint":"https://login.example.net/token"}}"#
                ),
            },
            Reason::HttpBadResponse,
        ),
        (Answer::EndlessHeaderLine, Reason::HttpBadResponse),
    ];
    for (answer, reason) in cases {
        let srv = server(&pki, answer.clone()).await;
        let obs = run_first(pki.dir.path(), &config(&srv, DIRECTORY, "", "")).await;
        assert_fails(&obs, reason, Phase::Http);
    }
}

#[tokio::test]
async fn the_tenants_proxy_carries_the_request() {
    let pki = Pki::new();
    let srv = server(&pki, metadata(DIRECTORY)).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let yaml = config(&srv, DIRECTORY, &format!("    proxy: {}\n", proxy.url()), "");
    let obs = run_first(pki.dir.path(), &yaml).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::ProxyConnect, Phase::Tls, Phase::Http]);
    assert_eq!(proxy.targets(), vec![srv.target()]);

    // A proxy that refuses is the proxy's failure, not the tenant's.
    let refusing = ConnectProxy::start(Mode::Status("403 Forbidden")).await;
    let yaml = config(&srv, DIRECTORY, &format!("    proxy: {}\n", refusing.url()), "");
    let obs = run_first(pki.dir.path(), &yaml).await;
    assert_fails(&obs, Reason::ProxyDenied, Phase::ProxyConnect);
    assert_eq!(srv.requests().len(), 1, "only the tunnelled request reached the server");
}

#[test]
fn the_config_refuses_what_a_tenant_check_cannot_use() {
    let path = Path::new("/nonexistent/config.yaml");
    let tenant =
        "tenants:\n  - name: contoso\n    tenant_id: contoso.onmicrosoft.com\n    client_id: 11111111-2222-3333-4444-555555555555\n";
    let cases = [
        ("    tenant: fabrikam\n", "", "checks[0].tenant", "no tenant named `fabrikam`"),
        ("", "", "checks[0].tenant", "needs `tenant: NAME`"),
        (
            "    tenant: contoso\n",
            "    authority: http://127.0.0.1:8080\n",
            "checks[0].tenant",
            "write https://",
        ),
        ("    tenant: contoso\n    mailbox: m\n", "", "checks[0].mailbox", "does not apply"),
    ];
    for (keys, tenant_extra, field, message) in cases {
        let yaml = format!("{tenant}{tenant_extra}checks:\n  - name: t\n    kind: tenant\n{keys}");
        let err = Config::from_yaml(path, &yaml).unwrap_err();
        assert_eq!(err.field, field, "{yaml}\n{err}");
        assert!(err.message.contains(message), "{yaml}\n{err}");
    }
}

/// The real binary's `check --output json` on `config`.
fn report(dir: &Path, config: &str) -> (Value, String) {
    let path = dir.join("report-config.yaml");
    std::fs::write(&path, config).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"))
            .arg("check")
            .arg("--config.file")
            .arg(&path)
            .args(["--lang", "en"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let json = run(&["--output", "json"]);
    let text = run(&[]);
    assert!(!json.contains(SECRET) && !text.contains(SECRET));
    (serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}")), text)
}

fn item<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["items"].as_array().unwrap().iter().find(|i| i["item"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_checks_the_azure_ad_item_and_files_the_external_url_under_system_configuration() {
    let pki = Pki::new();
    let srv = server(&pki, metadata(DIRECTORY)).await;
    let ece = https(pki.server_config(Leaf::Good), Answer::status(200)).await;
    let external = ece.url("/system");
    let extra = format!(
        "  - name: ece-external-url\n    kind: https\n    url: {external}\n    ca_file: ca.pem\n    timeout: 5s\n\
         ece:\n  external_url: {external}\n"
    );
    let (json, text) = report(pki.dir.path(), &config(&srv, DIRECTORY, "", &extra));
    let azure = item(&json, "azure_ad_application");
    assert_eq!(azure["status"], "passed", "{azure:#}");
    assert!(
        text.contains(&format!(
            "Tenant contoso exists: its OpenID metadata at {} names the directory {DIRECTORY}",
            srv.target()
        )),
        "{text}"
    );
    let system = item(&json, "system_configuration");
    assert_eq!(system["status"], "passed", "{system:#}");
    assert!(
        text.contains(&format!("ECE's External URL {} answered ece-external-url over HTTPS", ece.target())),
        "{text}"
    );

    // The External URL failing is System Configuration's failure, not the network's.
    drop(ece);
    let (json, _) = report(pki.dir.path(), &config(&srv, DIRECTORY, "", &extra));
    assert_eq!(item(&json, "system_configuration")["status"], "failed");
    assert_ne!(item(&json, "network_connectivity")["status"], "failed");

    // An unknown tenant fails the Azure AD item.
    let unknown = server(&pki, unknown_tenant("contoso.onmicrosoft.com")).await;
    let (json, _) = report(pki.dir.path(), &config(&unknown, "contoso.onmicrosoft.com", "", ""));
    let azure = item(&json, "azure_ad_application");
    assert_eq!(azure["status"], "failed", "{azure:#}");
    assert!(
        azure["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["evidence"]["reason"] == "token_unknown_tenant"),
        "{azure:#}"
    );
}
