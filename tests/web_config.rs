//! `--web.config.file`: the real binary serving TLS and basic auth, probed
//! with real TLS clients (rustls, and OpenSSL's `s_client` for the old
//! protocol versions rustls cannot even speak), plus the table of invalid
//! web configuration files under `tests/testdata/web/`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use test_support::agent::Agent;
use test_support::pki::{Pki, make_ca, pem};
use test_support::repo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

const USER: &str = "prometheus";
const PASSWORD: &str = "canary-web-password-7f3a";

/// A client certificate signed by a fresh client CA: (CA PEM path, chain, key).
fn client_identity(dir: &Path, name: &str) -> (PathBuf, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let (ca, ca_der) = make_ca(&format!("{name} client CA"));
    let ca_path = dir.join(format!("{name}-client-ca.pem"));
    std::fs::write(&ca_path, pem("CERTIFICATE", &ca_der)).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "prometheus-scraper");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (ca_path, vec![cert.der().clone()], key)
}

struct Setup {
    pki: Pki,
    config: PathBuf,
    web: PathBuf,
    hash: String,
    trusted_client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    other_client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

/// Writes the agent config (one check to a port nothing listens on, and one
/// to a canary server that must never see a connection from a request) and
/// a web config with TLS, `extra` lines under `tls_server_config`, and a user.
fn setup(target_port: u16, tls_extra: &str, min_version: &str) -> Setup {
    let pki = Pki::new();
    let dir = pki.dir.path().to_path_buf();
    let files = pki.tls_files();
    let (client_ca, chain, key) = client_identity(&dir, "trusted");
    let (_, other_chain, other_key) = client_identity(&dir, "untrusted");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let tls_extra = tls_extra.replace("CLIENT_CA", &client_ca.display().to_string());
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  min_version: {min_version}\n{tls_extra}http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  {USER}: \"{hash}\"\n",
            files.cert_chain_pem.display(),
            files.key_pem.display()
        ),
    )
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!("global:\n  interval: 60s\n  timeout: 2s\nchecks:\n  - name: canary\n    kind: tcp\n    target: 127.0.0.1:{target_port}\n"),
    )
    .unwrap();
    Setup {
        pki,
        config,
        web,
        hash,
        trusted_client: (chain, key),
        other_client: (other_chain, other_key),
    }
}

fn client_config(
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<&(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_file_iter(&pki.ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain.clone(), key.clone_key()).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// One HTTPS request; Err when the TLS handshake (or the connection) fails.
async fn https(addr: std::net::SocketAddr, config: Arc<rustls::ClientConfig>, request: &str) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A server that rejects the client certificate after the handshake (TLS 1.3) fails here.
    tls.read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    Ok((status, text))
}

fn get(path: &str, auth: Option<(&str, &str)>) -> String {
    let header = auth
        .map(|(u, p)| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{header}Connection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_and_basic_auth_table() {
    let canary = test_support::servers::raw(b"", test_support::servers::After::Close).await;
    let port: u16 = canary.target().rsplit_once(':').unwrap().1.parse().unwrap();
    let s = setup(port, "", "TLS12");
    let agent = Agent::start(BIN, &s.config, &["--web.config.file", s.web.to_str().unwrap()]);
    let both = &[&rustls::version::TLS12, &rustls::version::TLS13][..];
    let (only12, only13) = (&[&rustls::version::TLS12][..], &[&rustls::version::TLS13][..]);
    let good = Some((USER, PASSWORD));

    // (what, protocol versions offered, request) -> expected status
    let cases: Vec<(&str, &[&'static rustls::SupportedProtocolVersion], String, u16)> = vec![
        ("right password over TLS 1.3", only13, get("/metrics", good), 200),
        ("right password over TLS 1.2", only12, get("/metrics", good), 200),
        ("no credentials", both, get("/metrics", None), 401),
        ("wrong password", both, get("/metrics", Some((USER, "wrong"))), 401),
        ("unknown user", both, get("/metrics", Some(("admin", PASSWORD))), 401),
        ("the bcrypt hash as the password", both, get("/metrics", Some((USER, &s.hash))), 401),
        ("status page needs auth too", both, get("/", None), 401),
        ("health needs auth too", both, get("/-/healthy", None), 401),
        ("reload by GET", both, get("/-/reload", good), 405),
        (
            "a target to probe",
            both,
            get(&format!("/probe?target=127.0.0.1:{port}&module=tcp"), good),
            404,
        ),
    ];
    // The hash case twice, after a successful login: the auth cache must not let it in.
    for (what, versions, request, want) in cases.iter().chain(cases[5..6].iter()) {
        let got = https(agent.addr, client_config(&s.pki, versions, None), request).await;
        let (status, text) = got.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(status, *want, "{what}: {text}");
        if status == 401 {
            assert!(
                text.contains("WWW-Authenticate: Basic") || text.contains("www-authenticate: Basic"),
                "{what}: {text}"
            );
        }
        assert!(
            text.to_ascii_lowercase().contains("x-content-type-options: nosniff"),
            "{what}: configured headers: {text}"
        );
    }
    let (_, metrics) = https(agent.addr, client_config(&s.pki, both, None), &get("/metrics", good))
        .await
        .unwrap();
    assert!(metrics.contains("ece_o365_check_success"), "{metrics}");
    // Only the scheduled check ever connected to the canary: requests never name targets.
    assert!(canary.connection_count() <= 1, "{} connections", canary.connection_count());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let (status, _) = test_support::agent::request(agent.addr, "GET", "/metrics").await;
    assert_eq!(status, 0, "plain HTTP must not be served on a TLS port");

    // TLS 1.0 and 1.1 are refused by the server (OpenSSL can still offer them).
    for flag in ["-tls1", "-tls1_1"] {
        match openssl_handshake(agent.addr, flag, &s.pki.ca_pem).await {
            // The server answers the old ClientHello with an alert; no cipher is ever agreed.
            Some((ok, out)) => assert!(
                !ok && out.contains("SSL alert number") && out.contains("Cipher is (NONE)"),
                "{flag}: {out}"
            ),
            None => eprintln!("skipping {flag}: openssl is missing"),
        }
    }
    // The same probe with TLS 1.2 completes, so the refusals above are the server's.
    if let Some((ok, out)) = openssl_handshake(agent.addr, "-tls1_2", &s.pki.ca_pem).await {
        assert!(ok, "-tls1_2: {out}");
    }
    for secret in [PASSWORD, s.hash.as_str()] {
        assert!(!agent.log_text().contains(secret), "a credential reached the log");
    }
}

/// `openssl s_client` with one protocol flag: (handshake completed, output).
async fn openssl_handshake(addr: std::net::SocketAddr, flag: &str, ca: &Path) -> Option<(bool, String)> {
    let out = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            flag,
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-CAfile",
        ])
        .arg(ca)
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("openssl is missing in CI: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Some((!text.contains("Cipher is (NONE)") && !text.contains("alert"), text))
}

#[tokio::test(flavor = "multi_thread")]
async fn minimum_tls13_refuses_a_tls12_client() {
    let s = setup(9, "", "TLS13");
    let agent = Agent::start(BIN, &s.config, &["--web.config.file", s.web.to_str().unwrap()]);
    let only12 = client_config(&s.pki, &[&rustls::version::TLS12], None);
    let err = https(agent.addr, only12, &get("/metrics", Some((USER, PASSWORD))))
        .await
        .unwrap_err();
    assert!(err.contains("handshake"), "{err}");
    let only13 = client_config(&s.pki, &[&rustls::version::TLS13], None);
    assert_eq!(
        https(agent.addr, only13, &get("/metrics", Some((USER, PASSWORD)))).await.unwrap().0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_required_and_verified() {
    let s = setup(
        9,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: CLIENT_CA\n",
        "TLS12",
    );
    let agent = Agent::start(BIN, &s.config, &["--web.config.file", s.web.to_str().unwrap()]);
    let good = get("/metrics", Some((USER, PASSWORD)));
    for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13][..]] {
        let none = https(agent.addr, client_config(&s.pki, versions, None), &good).await;
        assert!(none.is_err(), "no client certificate must be refused: {none:?}");
        let other = https(agent.addr, client_config(&s.pki, versions, Some(&s.other_client)), &good).await;
        assert!(other.is_err(), "a certificate from another CA must be refused: {other:?}");
        let trusted = https(agent.addr, client_config(&s.pki, versions, Some(&s.trusted_client)), &good).await;
        assert_eq!(trusted.unwrap().0, 200);
        // A valid certificate does not replace the password.
        let no_password = https(
            agent.addr,
            client_config(&s.pki, versions, Some(&s.trusted_client)),
            &get("/metrics", None),
        )
        .await;
        assert_eq!(no_password.unwrap().0, 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_web_config_applies_to_new_connections_and_a_broken_one_is_ignored() {
    let s = setup(9, "", "TLS12");
    let agent = Agent::start(BIN, &s.config, &["--web.config.file", s.web.to_str().unwrap()]);
    let both = &[&rustls::version::TLS12, &rustls::version::TLS13][..];
    let new_password = "canary-rotated-password-11";
    let new_hash = bcrypt::hash(new_password, 4).unwrap();
    let text = std::fs::read_to_string(&s.web).unwrap().replace(&s.hash, &new_hash);
    // Make sure the modification time moves even on coarse file systems.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&s.web, &text).unwrap();
    let file = std::fs::File::options().write(true).open(&s.web).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(2))
        .unwrap();
    let status = |p: &'static str| {
        let cfg = client_config(&s.pki, both, None);
        async move { https(agent.addr, cfg, &get("/metrics", Some((USER, p)))).await.unwrap().0 }
    };
    assert_eq!(status(new_password).await, 200);
    assert_eq!(status(PASSWORD).await, 401);
    // Broken now: the last good settings stay, and the log says why.
    std::fs::write(&s.web, "basic_auth_users: [not, a, map]\n").unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(4))
        .unwrap();
    assert_eq!(status(new_password).await, 200);
    agent.wait_for_log("web configuration not reloaded").await;
}

#[test]
fn invalid_web_config_files_name_line_field_and_problem() {
    let dir = repo("tests/testdata/web");
    let pki = Pki::new();
    let files = pki.tls_files();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("invalid-") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("CERT_FILE", &files.cert_chain_pem.display().to_string())
            .replace("KEY_FILE", &files.key_pem.display().to_string())
            .replace("CA_FILE", &pki.ca_pem.display().to_string());
        let expect = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
        let (location_field, message) = expect.split_once(" | ").unwrap();
        let copy = pki.dir.path().join(&name);
        std::fs::write(&copy, &text).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["--web.listen-address", "127.0.0.1:0", "--config.file"])
            .arg(repo("config.example.yaml"))
            .arg("--web.config.file")
            .arg(&copy)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: exit code");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (loc, field) = location_field.split_once(' ').unwrap_or((location_field, ""));
        let head = format!("{}:{loc}: {field}", copy.display());
        assert!(stderr.contains(&head), "{name}: expected `{head}` in:\n{stderr}");
        assert!(stderr.contains(message), "{name}: expected `{message}` in:\n{stderr}");
        assert!(!stderr.contains("$2y$10$"), "{name}: a hash was echoed:\n{stderr}");
    }
    assert!(seen >= 8, "only {seen} invalid web configs");
}
