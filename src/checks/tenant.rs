//! `kind: tenant`: the tenant's OpenID Connect metadata, without any
//! credential (the guide's "Azure AD Application" item, as far as it can be
//! checked before a secret or a token exists). One `GET
//! {authority}/{tenant_id}/v2.0/.well-known/openid-configuration` through
//! the tenant's proxy, as `kind: https` sends it, then the document judged:
//! its `issuer` must name the tenant's directory (the configured id when it
//! is one; any directory id when a domain is configured) and its
//! `token_endpoint` must be on the configured authority. Azure AD's answer
//! for a tenant it does not know (400 with `AADSTS90002` / `invalid_tenant`)
//! or an issuer of another directory is `token_unknown_tenant`.
//!
//! It keeps at most [`METADATA_CAP`] bytes of the document and reads two of
//! its fields; nothing here sends or holds a secret.

use std::sync::Arc;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::https::{self, http_failure};
use super::kind::{Covers, EceUse, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{
    CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, MailboxUse, Proxy, Target, Tenant, TlsSettings, TokenProxy,
};
use crate::observation::{Failure, Probe, TenantFacts};
use crate::proto::http::{Limits, Method};
use crate::proto::lines::excerpt;
use crate::proto::tls::TlsClient;
use crate::reason::{GuideItem, Kind, Reason};

pub const KIND: Kind = Kind::new("tenant");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &["tenant", "ca_file", "expected_issuer"],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide {
        item: GuideItem::AzureAdApplication,
        chain: CHAIN,
        chain_with_mailbox: CHAIN,
        covers: Covers::Use(EceUse::Token),
        target: super::kind::host_port_target,
        files_external_url: false,
    },
};

const CHAIN: &[GuideItem] = &[GuideItem::NetworkConnectivity, GuideItem::AzureAdApplication];

/// The most of the metadata document kept (Azure AD's is under 2 KiB).
pub const METADATA_CAP: usize = 32 * 1024;

/// A `tenant` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantSettings {
    pub tenant: Arc<Tenant>,
    /// The metadata document's URL.
    pub url: Url,
    /// The authority's host and port.
    pub target: Target,
    pub tls: TlsSettings,
    /// The tenant's proxy (its own, else `global.proxy`, `NO_PROXY` applied).
    pub proxy: Option<Proxy>,
}

impl KindSettings for TenantSettings {
    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }
}

/// `{authority}/{tenant_id}/v2.0/.well-known/openid-configuration`, or why
/// the authority cannot be checked this way.
pub fn metadata_url(authority: &str, tenant_id: &str) -> Result<(Url, Target), String> {
    let base = Url::parse(authority).map_err(|e| format!("the authority is not a URL ({e})"))?;
    if base.scheme() != "https" {
        return Err(format!(
            "a tenant check speaks HTTPS and the authority is {}://: write https://",
            base.scheme()
        ));
    }
    let host = base.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    if host.is_empty() {
        return Err("the authority names no host".to_string());
    }
    let port = base.port_or_known_default().unwrap_or(443);
    let path = format!(
        "{}/{tenant_id}/v2.0/.well-known/openid-configuration",
        base.path().trim_end_matches('/')
    );
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(None);
    Ok((url, Target { host, port }))
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    let (tenant, loc) = keys.tenant()?;
    let (url, target) = metadata_url(&tenant.authority, &tenant.tenant_id)
        .map_err(|m| keys.error(loc, "tenant", format!("tenant `{}`: {m}", tenant.name)))?;
    let proxy = match &tenant.proxy {
        None => None,
        Some(TokenProxy::Proxy(p)) => Some(p.clone()),
        Some(TokenProxy::Url(_)) => {
            return Err(keys.error(
                loc,
                "tenant",
                format!(
                    "tenant `{}` writes its proxy as a URL with inline credentials or https://, which only the token \
                     request understands: write it as http://host:port with `proxy_user` and `proxy_password` so a \
                     tenant check can use it",
                    tenant.name
                ),
            ));
        }
    };
    Ok(Arc::new(TenantSettings {
        url,
        target,
        tls: keys.tls_settings()?,
        proxy,
        tenant,
    }))
}

pub struct TenantCheck {
    settings: TenantSettings,
    /// The `Host` header.
    authority: String,
    tls: TlsClient,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<TenantSettings>().ok_or(BuildError::Mismatch)?;
    let authority = super::https::host_header(&settings.url, &settings.target);
    Ok(Box::new(TenantCheck {
        tls: TlsClient::new(&mut ctx.tls, &settings.tls, &settings.target)?,
        settings: settings.clone(),
        authority,
    }))
}

/// The two fields of the metadata judged here.
#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    token_endpoint: Option<String>,
}

/// Azure AD's error document (`error`, `error_description` with AADSTS).
#[derive(Deserialize)]
struct AadError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Whether `text` is a GUID (8-4-4-4-12 hex digits), as directory ids are.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The verdict on a 200's document: the directory id it names, or why not.
pub fn judge_metadata(body: &[u8], tenant_id: &str, authority: &Url) -> Result<String, Failure> {
    let doc: Metadata = serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            Reason::HttpBadResponse,
            format!("the OpenID metadata is not a JSON document ({})", excerpt(&e.to_string(), 120)),
        )
    })?;
    let issuer = doc
        .issuer
        .ok_or_else(|| Failure::new(Reason::HttpBadResponse, "the OpenID metadata has no `issuer`"))?;
    let directory = Url::parse(&issuer)
        .ok()
        .and_then(|u| u.path_segments().and_then(|mut s| s.next().map(str::to_string)))
        .filter(|d| is_guid(d))
        .ok_or_else(|| {
            Failure::new(
                Reason::TokenUnknownTenant,
                format!("the metadata's issuer `{}` names no directory id", excerpt(&issuer, 200)),
            )
        })?;
    if is_guid(tenant_id) && !directory.eq_ignore_ascii_case(tenant_id) {
        return Err(Failure::new(
            Reason::TokenUnknownTenant,
            format!("the metadata's issuer names directory {directory}, not the configured tenant_id {tenant_id}"),
        ));
    }
    let endpoint = doc
        .token_endpoint
        .ok_or_else(|| Failure::new(Reason::HttpBadResponse, "the OpenID metadata has no `token_endpoint`"))?;
    let on_authority = Url::parse(&endpoint).is_ok_and(|e| {
        e.scheme() == authority.scheme()
            && e.host_str() == authority.host_str()
            && e.port_or_known_default() == authority.port_or_known_default()
    });
    if !on_authority {
        return Err(Failure::new(
            Reason::HttpBadResponse,
            format!(
                "the metadata's token_endpoint `{}` is not on the configured authority {}",
                excerpt(&endpoint, 200),
                authority.origin().ascii_serialization()
            ),
        ));
    }
    Ok(directory.to_ascii_lowercase())
}

/// The verdict on any other status: Azure AD's unknown tenant, or the status.
fn judge_error(status: u16, reason: &str, body: &[u8]) -> Failure {
    let aad: Option<AadError> = serde_json::from_slice(body).ok();
    let description = aad.as_ref().and_then(|a| a.error_description.as_deref()).unwrap_or_default();
    let unknown = aad.as_ref().and_then(|a| a.error.as_deref()) == Some("invalid_tenant") || description.contains("AADSTS90002");
    if unknown {
        return Failure::new(
            Reason::TokenUnknownTenant,
            format!(
                "HTTP {status}: {}",
                excerpt(description.lines().next().unwrap_or("invalid_tenant").trim_end(), 300)
            ),
        );
    }
    Failure::new(Reason::HttpUnexpectedStatus, format!("HTTP {status} {reason} (expected 200)"))
}

impl Check for TenantCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let s = &self.settings;
            let limits = Limits {
                max_body: METADATA_CAP,
                ..Limits::default()
            };
            let request_line = (Method::Get, self.authority.as_str(), s.url.path());
            let (mut exchange, head) = https::request(probe, &s.target, s.proxy.as_ref(), &self.tls, limits, request_line).await?;
            let body = exchange.read_body_kept(&head).await.map_err(http_failure)?;
            let _ = exchange.into_inner().shutdown().await;
            if head.status != 200 {
                return Err(judge_error(head.status, &head.reason, &body));
            }
            let directory = judge_metadata(&body, &s.tenant.tenant_id, &s.url)?;
            probe.facts.tenant = Some(TenantFacts {
                tenant: s.tenant.name.clone(),
                directory_id: directory,
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn authority() -> Url {
        Url::parse("https://login.microsoftonline.com/x").unwrap()
    }

    fn doc(issuer: &str, token_endpoint: &str) -> Vec<u8> {
        format!(r#"{{"issuer":"{issuer}","token_endpoint":"{token_endpoint}","jwks_uri":"x"}}"#).into_bytes()
    }

    #[test]
    fn the_metadata_url_is_under_the_authority() {
        let (url, target) = metadata_url("https://login.microsoftonline.com", "contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        assert_eq!((target.host.as_str(), target.port), ("login.microsoftonline.com", 443));
        let (url, target) = metadata_url("https://127.0.0.1:8443/base/", DIR).unwrap();
        assert_eq!(url.path(), format!("/base/{DIR}/v2.0/.well-known/openid-configuration"));
        assert_eq!(target.port, 8443);
        assert!(metadata_url("http://127.0.0.1:80", DIR).unwrap_err().contains("https://"));
    }

    #[test]
    fn guids_are_directory_ids() {
        assert!(is_guid(DIR));
        assert!(is_guid(&DIR.to_ascii_uppercase()));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47-0"));
        assert!(!is_guid("{tenantid}"));
    }

    #[test]
    fn a_document_naming_the_directory_passes() {
        let issuer = format!("https://login.microsoftonline.com/{DIR}/v2.0");
        let endpoint = format!("https://login.microsoftonline.com/{DIR}/oauth2/v2.0/token");
        let body = doc(&issuer, &endpoint);
        assert_eq!(judge_metadata(&body, DIR, &authority()).unwrap(), DIR);
        assert_eq!(judge_metadata(&body, &DIR.to_ascii_uppercase(), &authority()).unwrap(), DIR);
        // A domain is configured: any directory id is the finding.
        assert_eq!(judge_metadata(&body, "contoso.onmicrosoft.com", &authority()).unwrap(), DIR);
    }

    #[test]
    fn another_directory_or_none_is_an_unknown_tenant() {
        let other = "11111111-2222-3333-4444-555555555555";
        let endpoint = format!("https://login.microsoftonline.com/{other}/oauth2/v2.0/token");
        let body = doc(&format!("https://login.microsoftonline.com/{other}/v2.0"), &endpoint);
        let f = judge_metadata(&body, DIR, &authority()).unwrap_err();
        assert_eq!(f.reason, Reason::TokenUnknownTenant);
        assert!(f.detail.contains(other) && f.detail.contains(DIR), "{}", f.detail);
        // `common` answers with a template issuer.
        let body = doc("https://login.microsoftonline.com/{tenantid}/v2.0", &endpoint);
        assert_eq!(
            judge_metadata(&body, "common", &authority()).unwrap_err().reason,
            Reason::TokenUnknownTenant
        );
    }

    #[test]
    fn a_token_endpoint_elsewhere_or_a_broken_document_is_a_bad_response() {
        let issuer = format!("https://login.microsoftonline.com/{DIR}/v2.0");
        let body = doc(&issuer, "https://login.example.net/token");
        let f = judge_metadata(&body, DIR, &authority()).unwrap_err();
        assert_eq!(f.reason, Reason::HttpBadResponse);
        assert!(f.detail.contains("login.example.net"), "{}", f.detail);
        for body in [&b"<html>"[..], b"{}", b"{\"issuer\": 5}", b"\xff\xfe"] {
            assert_eq!(judge_metadata(body, DIR, &authority()).unwrap_err().reason, Reason::HttpBadResponse);
        }
    }

    #[test]
    fn azure_ads_unknown_tenant_answer_is_named() {
        let body = br#"{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'nosuch.onmicrosoft.com' not found. Check to make sure you have the correct tenant ID.\r\nTrace ID: 0b8e\r\nCorrelation ID: 4c1d\r\nTimestamp: 2026-12-03 21:00:00Z","error_codes":[90002]}"#;
        let f = judge_error(400, "Bad Request", body);
        assert_eq!(f.reason, Reason::TokenUnknownTenant);
        assert!(f.detail.starts_with("HTTP 400: AADSTS90002: Tenant 'nosuch"), "{}", f.detail);
        assert!(!f.detail.contains("Trace ID"), "one line: {}", f.detail);
        let f = judge_error(400, "Bad Request", b"<html>bad</html>");
        assert_eq!(f.reason, Reason::HttpUnexpectedStatus);
        assert_eq!(judge_error(503, "Service Unavailable", b"").reason, Reason::HttpUnexpectedStatus);
    }
}
