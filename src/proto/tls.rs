//! TLS client side of every check: rustls with the ring provider, the
//! system's roots plus the configured extra CAs, classification of handshake
//! failures, and the certificate facts we export (earliest expiry, leaf
//! subject/issuer/fingerprint, negotiated version). Sessions are never
//! resumed: the facts are always those of the chain verified in this run.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Target, TlsSettings};
use crate::observation::{CertSummary, Failure, Probe, TlsFacts};
use crate::reason::{Phase, Reason};

/// Why a TLS client could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("no trusted root certificate: the system store is empty and no extra_ca_file/ca_file was given")]
    NoRoots,
    #[error("`{0}` cannot be used as a TLS server name")]
    BadServerName(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The system's trusted roots, loaded once per process and kept as trust
/// anchors only (the certificates they were read from are dropped), shared
/// by every client configuration without extra CAs.
fn native_roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in found.errors.iter().take(3) {
            tracing::warn!(error = %e, "some system root certificates could not be loaded");
        }
        let mut roots = RootCertStore::empty();
        // A malformed system root is skipped, as every TLS client does.
        let _ = roots.add_parsable_certificates(found.certs);
        Arc::new(roots)
    })
}

/// Shares one rustls `ClientConfig` among all checks with the same extra CAs,
/// so a thousand checks do not parse the system roots a thousand times, nor
/// hold a thousand copies of their trust anchors.
#[derive(Default)]
pub struct ClientConfigCache {
    by_extra: HashMap<Arc<Vec<CertificateDer<'static>>>, Arc<ClientConfig>>,
}

impl ClientConfigCache {
    pub fn get(&mut self, extra: &Arc<Vec<CertificateDer<'static>>>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        // Keyed by the certificates, not the Arc: two sets read from two
        // files with the same content share one configuration too.
        if let Some(cfg) = self.by_extra.get(extra) {
            return Ok(cfg.clone());
        }
        let mut roots = native_roots().clone();
        if !extra.is_empty() {
            let with_extra = Arc::make_mut(&mut roots);
            let (_, rejected) = with_extra.add_parsable_certificates(extra.iter().cloned());
            if rejected > 0 {
                tracing::warn!(rejected, "some configured CA certificates are not usable as trust anchors");
            }
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoRoots);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Every handshake is a full one. A resumed session (TLS 1.3 ticket,
        // TLS 1.2 session id) carries no certificate, and rustls would report
        // the chain of the session it resumed: a rotated certificate, or an
        // intercepting proxy that resumes, would stay invisible. A freshly
        // started ECE has nothing to resume, and the checks measure what it sees.
        cfg.resumption = rustls::client::Resumption::disabled();
        let cfg = Arc::new(cfg);
        self.by_extra.insert(extra.clone(), cfg.clone());
        Ok(cfg)
    }
}

/// Everything needed to run a verified handshake against one target.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    expected_issuer: Option<String>,
}

impl TlsClient {
    pub fn new(cache: &mut ClientConfigCache, settings: &TlsSettings, target: &Target) -> Result<Self, TlsSetupError> {
        let name = settings.server_name.clone().unwrap_or_else(|| target.host.clone());
        let server_name = ServerName::try_from(name.clone()).map_err(|_| TlsSetupError::BadServerName(name))?;
        Ok(TlsClient {
            connector: TlsConnector::from(cache.get(&settings.extra_ca)?),
            server_name,
            expected_issuer: settings.expected_issuer.clone(),
        })
    }

    /// Runs the handshake in phase `tls`, records the session's facts and
    /// checks the issuer. The facts are recorded even when the issuer check fails.
    pub async fn handshake<S>(&self, probe: &mut Probe, stream: S) -> Result<TlsStream<S>, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        probe.enter(Phase::Tls);
        let tls = self
            .connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| Failure::new(handshake_reason(&e), format!("TLS handshake: {e}")))?;
        let (_, conn) = tls.get_ref();
        let facts = session_facts(conn.protocol_version(), conn.peer_certificates().unwrap_or_default());
        let issuer = facts.leaf.as_ref().map(|l| l.issuer.clone()).unwrap_or_default();
        probe.facts.tls = Some(facts);
        if let Some(expected) = &self.expected_issuer
            && !issuer.contains(expected.as_str())
        {
            return Err(Failure::new(
                Reason::TlsUnexpectedIssuer,
                format!("certificate issued by `{issuer}`, expected an issuer containing `{expected}` (TLS inspection?)"),
            ));
        }
        Ok(tls)
    }
}

/// Classifies a failed handshake.
pub fn handshake_reason(e: &io::Error) -> Reason {
    // Certificate and version verdicts arrive as a rustls::Error inside the io::Error;
    // anything else (other alerts, plaintext, a peer hanging up) is a failed handshake,
    // except this machine running out of socket buffers, which is never the path's fault.
    if super::net::is_local_exhaustion(e) {
        return Reason::LocalResourceExhausted;
    }
    let Some(rustls_err) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return Reason::TlsHandshakeFailed;
    };
    match rustls_err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Reason::TlsCertExpired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Reason::TlsCertNotYetValid,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => Reason::TlsCertNameMismatch,
            _ => Reason::TlsCertUntrusted,
        },
        // The server refuses TLS 1.2 and 1.3 (it alerts protocol_version), or picks an older version.
        rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
        | rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13 | rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
        ) => Reason::TlsVersionUnsupported,
        _ => Reason::TlsHandshakeFailed,
    }
}

fn session_facts(version: Option<rustls::ProtocolVersion>, chain: &[CertificateDer<'_>]) -> TlsFacts {
    let version = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        Some(_) => "other",
        None => "unknown",
    };
    let mut earliest: Option<i64> = None;
    let mut leaf = None;
    for (i, der) in chain.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
            continue;
        };
        let not_after = cert.validity().not_after.timestamp();
        earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
        if i == 0 {
            let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
            leaf = Some(CertSummary {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                fingerprint_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
    }
    TlsFacts {
        version,
        earliest_expiry: earliest,
        leaf,
    }
}
