//! A throwaway PKI for TLS tests: one CA, leaves signed by it in every shape
//! a broken or intercepted server presents (expired, not yet valid, wrong
//! name, self-signed, signed by another CA), and the PEM files on disk.
//!
//! Owns certificates and keys only; the servers that present them are
//! [`crate::servers`]'s and the peers'.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, date_time_ymd};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const CA_NAME: &str = "ece-o365-exporter test CA";
/// The `notAfter` of a good leaf: 2040-01-01T00:00:00Z.
pub const LEAF_NOT_AFTER_UNIX: i64 = 2_208_988_800;

/// What kind of leaf certificate a test server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    Good,
    Expired,
    NotYetValid,
    /// Valid, but for `other.example` only.
    WrongName,
    SelfSigned,
    /// Signed by a CA the client does not trust (a TLS inspection box).
    OtherCa,
}

/// Server certificate chain and private key for the peers, as PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM: leaf certificate first, then any intermediates / the CA.
    pub cert_chain_pem: PathBuf,
    /// PEM: PKCS#8 private key of the leaf.
    pub key_pem: PathBuf,
}

/// A test CA, another CA a client does not trust, and a directory for their files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate, for `ca_file:`.
    pub ca_pem: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    other_ca: Issuer<'static, KeyPair>,
}

/// A CA named `name`: its issuer (to sign leaves) and its certificate.
pub fn make_ca(name: &str) -> (Issuer<'static, KeyPair>, CertificateDer<'static>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("CA cert");
    (Issuer::new(params, key), cert.der().clone())
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

impl Pki {
    /// A fresh CA (and another one) in a new temporary directory.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca, ca_der) = make_ca(CA_NAME);
        let (other_ca, _) = make_ca("Intercepting Proxy CA");
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, pem("CERTIFICATE", &ca_der)).expect("write ca.pem");
        Pki {
            dir,
            ca_pem,
            ca,
            ca_der,
            other_ca,
        }
    }

    /// The chain (leaf first) and key a server presents.
    pub fn leaf(&self, kind: Leaf) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let names = match kind {
            Leaf::WrongName => vec!["other.example".to_string()],
            _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2040, 1, 1);
        match kind {
            Leaf::Expired => {
                params.not_before = date_time_ymd(2001, 1, 1);
                params.not_after = date_time_ymd(2002, 1, 1);
            }
            Leaf::NotYetValid => {
                params.not_before = date_time_ymd(2090, 1, 1);
                params.not_after = date_time_ymd(2091, 1, 1);
            }
            _ => {}
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = match kind {
            Leaf::SelfSigned => params.self_signed(&key),
            Leaf::OtherCa => params.signed_by(&key, &self.other_ca),
            _ => params.signed_by(&key, &self.ca),
        }
        .expect("leaf cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut chain = vec![cert.der().clone()];
        if kind != Leaf::SelfSigned && kind != Leaf::OtherCa {
            chain.push(self.ca_der.clone());
        }
        (chain, key)
    }

    /// A rustls server config presenting `kind`.
    pub fn server_config(&self, kind: Leaf) -> Arc<ServerConfig> {
        let (chain, key) = self.leaf(kind);
        server_config_for(chain, key)
    }

    /// Writes a good chain and key as PEM files (for Dovecot and Postfix).
    pub fn tls_files(&self) -> TlsFiles {
        let (chain, key) = self.leaf(Leaf::Good);
        let cert_chain_pem = self.dir.path().join("server-chain.pem");
        let key_pem = self.dir.path().join("server-key.pem");
        let chain_text: String = chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        std::fs::write(&cert_chain_pem, chain_text).expect("write chain");
        std::fs::write(&key_pem, pem("PRIVATE KEY", key.secret_der())).expect("write key");
        TlsFiles { cert_chain_pem, key_pem }
    }
}

/// A rustls server config (ring provider) presenting `chain` with `key`.
pub fn server_config_for(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let cfg = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server cert");
    Arc::new(cfg)
}

/// PEM-encodes DER (base64 with 64-column lines).
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = crate::jwt::base64_std(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
