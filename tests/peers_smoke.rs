//! Smoke test for the real third-party test peers in `crates/test-support` (`dovecot`, `postfix`):
//! starts Dovecot and Postfix on loopback and checks them over plain TCP
//! (greetings, STARTTLS/STLS advertised, and Dovecot's local JWT validation).
//! The TLS and XOAUTH2-over-TLS interop tests live elsewhere and use the
//! crate's own checks.
//!
//! Needs the servers: `sudo scripts/install-test-peers.sh`. Postfix needs
//! root; without root only the Dovecot part runs.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use test_support::dovecot::Dovecot;
use test_support::jwt::{self, OAuthKey};
use test_support::now;
use test_support::pki::Pki;
use test_support::postfix::Postfix;

/// Line-oriented plain-TCP client.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "connection closed unexpectedly");
        l.trim_end().to_string()
    }

    fn send(&mut self, cmd: &str) {
        self.writer.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    }

    /// Reads lines until one satisfies `last`; returns them all.
    fn until(&mut self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = vec![];
        loop {
            let l = self.line();
            let done = last(&l);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }
}

#[test]
fn dovecot_and_postfix_peers_start_greet_and_validate_tokens() {
    let pki = Pki::new();
    let tls = pki.tls_files();
    let tmp = tempfile::tempdir().unwrap();
    let key = OAuthKey {
        key_id: "smoke-kid".into(),
        hs256_secret: b"smoke-test-secret-0123456789abcdef".to_vec(),
        issuer: "https://login.microsoftonline.com/test-tenant/v2.0".into(),
    };

    let dovecot = Dovecot::start(tmp.path(), &tls, &key).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("dovecot ready in {:?}", dovecot.startup);

    // IMAP, plain port: greeting, CAPABILITY with STARTTLS.
    let mut imap = Conn::open(dovecot.imap_port);
    let greeting = imap.line();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    imap.send("a1 CAPABILITY");
    let caps = imap.until(|l| l.starts_with("a1 "));
    assert!(caps.last().unwrap().starts_with("a1 OK"), "{caps:?}");
    assert!(caps[0].contains(" STARTTLS"), "{caps:?}");
    assert!(caps[0].contains("AUTH=XOAUTH2"), "{caps:?}");

    // Dovecot counts a loopback client as secured (same local and remote IP),
    // so XOAUTH2 works on the plain port too: this checks the key setup
    // (key dict path, base64 secret, sub/user match) without a TLS client.
    let user = "alice@example.test";
    let good = jwt::mint_hs256_jwt(&key, user, "", now() + 3600);
    imap.send(&format!("a2 AUTHENTICATE XOAUTH2 {}", jwt::xoauth2_initial_response(user, &good)));
    let r = imap.until(|l| l.starts_with("a2 "));
    assert!(r.last().unwrap().starts_with("a2 OK"), "{r:?}\n{}", dovecot.log_tail(10));
    imap.send("a3 SELECT INBOX");
    let r = imap.until(|l| l.starts_with("a3 "));
    assert!(r.last().unwrap().starts_with("a3 OK"), "{r:?}\n{}", dovecot.log_tail(10));
    imap.send("a4 LOGOUT");
    imap.until(|l| l.starts_with("a4 "));

    // Wrong signature: XOAUTH2 error challenge, empty response, NO.
    let forged = OAuthKey {
        hs256_secret: b"wrong".to_vec(),
        ..key.clone()
    };
    let bad = jwt::mint_hs256_jwt(&forged, user, "", now() + 3600);
    let mut imap = Conn::open(dovecot.imap_port);
    imap.line();
    imap.send(&format!("b1 AUTHENTICATE XOAUTH2 {}", jwt::xoauth2_initial_response(user, &bad)));
    let challenge = imap.line();
    assert!(challenge.starts_with("+ "), "{challenge}");
    imap.send("");
    let r = imap.until(|l| l.starts_with("b1 "));
    assert!(r.last().unwrap().starts_with("b1 NO"), "{r:?}");
    assert!(dovecot.log_tail(20).contains("Incorrect JWT signature"), "{}", dovecot.log_tail(20));

    // Expired token.
    let expired = jwt::mint_hs256_jwt(&key, user, r#"{"iat":1000}"#, now() - 60);
    imap.send(&format!(
        "b2 AUTHENTICATE XOAUTH2 {}",
        jwt::xoauth2_initial_response(user, &expired)
    ));
    assert!(imap.line().starts_with("+ "));
    imap.send("");
    let r = imap.until(|l| l.starts_with("b2 "));
    assert!(r.last().unwrap().starts_with("b2 NO"), "{r:?}");

    // A token with an `azp` claim needs a key stored under that azp.
    let app_key = OAuthKey {
        key_id: "app-kid".into(),
        hs256_secret: b"another-secret-for-the-app-0123456".to_vec(),
        ..key.clone()
    };
    dovecot.add_hs256_key(Some("my-app"), &app_key).unwrap();
    let azp_token = jwt::mint_hs256_jwt(&app_key, user, r#""azp":"my-app""#, now() + 3600);
    let mut imap = Conn::open(dovecot.imap_port);
    imap.line();
    imap.send(&format!(
        "c1 AUTHENTICATE XOAUTH2 {}",
        jwt::xoauth2_initial_response(user, &azp_token)
    ));
    let r = imap.until(|l| l.starts_with("c1 "));
    assert!(r.last().unwrap().starts_with("c1 OK"), "{r:?}\n{}", dovecot.log_tail(10));
    imap.send("c2 LOGOUT");
    imap.until(|l| l.starts_with("c2 "));

    // POP3, plain port: greeting, CAPA with STLS, then OAUTHBEARER + STAT.
    let mut pop = Conn::open(dovecot.pop3_port);
    let greeting = pop.line();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    pop.send("CAPA");
    let capa = pop.until(|l| l == ".");
    assert!(capa.iter().any(|l| l == "STLS"), "{capa:?}");
    assert!(capa.iter().any(|l| l.starts_with("SASL") && l.contains("XOAUTH2")), "{capa:?}");
    pop.send(&format!("AUTH OAUTHBEARER {}", jwt::oauthbearer_initial_response(user, &good)));
    let r = pop.line();
    assert!(r.starts_with("+OK"), "{r}\n{}", dovecot.log_tail(10));
    pop.send("STAT");
    let r = pop.line();
    assert_eq!(r, "+OK 0 0");
    pop.send("QUIT");
    pop.line();

    // Postfix submission needs root (its master refuses otherwise).
    match Postfix::start(tmp.path(), &tls, &dovecot) {
        Ok(postfix) => {
            eprintln!("postfix ready in {:?}", postfix.startup);
            let mut smtp = Conn::open(postfix.submission_port);
            let greeting = smtp.line();
            assert!(greeting.starts_with("220 "), "{greeting}");
            smtp.send("EHLO client.test");
            let ehlo = smtp.until(|l| l.starts_with("250 "));
            assert!(ehlo.iter().any(|l| l[4..].starts_with("STARTTLS")), "{ehlo:?}");
            assert!(!ehlo.iter().any(|l| l[4..].starts_with("AUTH")), "AUTH before TLS: {ehlo:?}");
            smtp.send(&format!("AUTH XOAUTH2 {}", jwt::xoauth2_initial_response(user, &good)));
            let r = smtp.line();
            assert!(r.starts_with("530"), "AUTH before STARTTLS must be refused: {r}");
            smtp.send("QUIT");
            assert!(smtp.line().starts_with("221"));
            let port = postfix.submission_port;
            drop(postfix);
            assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "postfix still listening");
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skipping the Postfix part: {e}");
        }
        Err(e) => panic!("{e}"),
    }

    let ports = [dovecot.imap_port, dovecot.imaps_port, dovecot.pop3_port, dovecot.pop3s_port];
    drop(dovecot);
    for p in ports {
        assert!(TcpStream::connect(("127.0.0.1", p)).is_err(), "dovecot still listening on {p}");
    }
}
