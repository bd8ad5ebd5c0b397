//! Dovecot 2.3 as a real interop peer: IMAP, IMAPS, POP3, POP3S with
//! XOAUTH2/OAUTHBEARER validated locally against an HS256 key (the tokens
//! come from [`crate::jwt`]), plus its auth service for Postfix's SASL.
//!
//! Owns Dovecot's generated configuration and key files inside a
//! caller-supplied directory; spawning, readiness and cleanup are
//! [`crate::process`]'s. It must not reach beyond 127.0.0.1 or outside that
//! directory. Install Dovecot with `scripts/install-test-peers.sh` (Debian 12).
//!
//! Quirks worth knowing:
//! * Dovecot treats a connection whose remote IP equals its local IP as
//!   "secured", so on 127.0.0.1 the plain IMAP/POP3 ports advertise
//!   `AUTH=XOAUTH2`/`SASL XOAUTH2` and accept authentication before STARTTLS
//!   (LOGINDISABLED is still shown). Postfix, by contrast, refuses AUTH before
//!   STARTTLS (`smtpd_tls_auth_only`, `smtpd_tls_security_level = encrypt`).
//! * Dovecot 2.3 looks an HS256 key up in the key dict under
//!   `shared/<azp>/HS256/<kid>`, where `<azp>` is the token's `azp` claim or
//!   `default` when the token has none; with `fs:posix:prefix=P` that is the
//!   file `P<azp>/HS256/<kid>`, holding the base64 (standard alphabet) of the
//!   secret. The token header must carry `"typ":"JWT"`. The `sub` claim must
//!   equal the SASL user name (both lowercased by Dovecot).
//! * As root, Dovecot refuses to give mailbox access to uid 0, so mail
//!   processes run as `nobody`; the directory handed to [`Dovecot::start`] is
//!   made traversable by others (o+x) and its ancestors must already be.
//! * A failed authentication is answered after up to 0.5 s (Dovecot's auth
//!   flushes delayed failures on a 500 ms timer even with
//!   `auth_failure_delay = 0`). The per-IP auth penalty (2, 4, 8, 15 s after
//!   repeated failures) is disabled by not creating anvil's
//!   `anvil-auth-penalty` socket.
//! * A failed XOAUTH2 attempt first gets a challenge (`+ <base64 JSON>` in
//!   IMAP/POP3, `334 <base64 JSON>` in SMTP); the client must send an empty
//!   line, then gets NO / -ERR / 535.
//! * One Dovecot per directory (it uses `dir/dovecot`). Dovecot also works
//!   unprivileged.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::jwt::{OAuthKey, base64_std};
use crate::net::free_ports;
use crate::pki::TlsFiles;
use crate::process::{
    PeerProcess, START_ATTEMPTS, check_config_path, check_config_value, egid, euid, find_binary, group_name, instance_mark, invalid,
    make_traversable, not_found, tail, user_name, wait_ready, write_file,
};

/// Mail uid/gid used for Dovecot's mail processes when running as root.
const NOBODY: u32 = 65534;

/// A running Dovecot 2.3 instance. Dropping it stops the server.
pub struct Dovecot {
    /// IMAP, STARTTLS offered.
    pub imap_port: u16,
    /// IMAP over implicit TLS.
    pub imaps_port: u16,
    /// POP3, STLS offered.
    pub pop3_port: u16,
    /// POP3 over implicit TLS.
    pub pop3s_port: u16,
    /// Dovecot auth "client" listener (Dovecot SASL protocol) used by Postfix.
    pub sasl_port: u16,
    /// LMTP, where Postfix delivers (any address is a user: the mail store
    /// is `mail/<address>`, the same the IMAP login of that address reads).
    pub lmtp_port: u16,
    /// Time from spawning the master until every port answered.
    pub startup: Duration,
    proc: PeerProcess,
    dir: PathBuf,
}

impl Dovecot {
    /// Starts `dovecot -F -c <generated conf>` in `dir/dovecot`, waits until
    /// every port accepts (the plain ones must send their greeting), and
    /// returns the running server. On failure the error includes the tail of
    /// Dovecot's log.
    pub fn start(dir: &Path, tls: &TlsFiles, oauth: &OAuthKey) -> io::Result<Dovecot> {
        let dovecot =
            find_binary("dovecot").ok_or_else(|| not_found("dovecot is not installed; run scripts/install-test-peers.sh as root"))?;
        check_key_id(&oauth.key_id)?;
        let dir = fs::canonicalize(dir)?;
        let root = dir.join("dovecot");
        check_config_path(&root)?;
        check_config_path(&tls.cert_chain_pem)?;
        check_config_path(&tls.key_pem)?;
        if root.as_os_str().len() > 70 {
            // Dovecot puts unix sockets under base_dir (108-byte limit).
            return Err(invalid(format!(
                "directory path too long for dovecot's unix sockets: {}",
                root.display()
            )));
        }

        let is_root = euid() == 0;
        if is_root {
            make_traversable(&dir)?;
        }
        fs::create_dir_all(&root)?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        let mail = root.join("mail");
        fs::create_dir_all(&mail)?;
        let (mail_uid, mail_gid) = if is_root { (NOBODY, NOBODY) } else { (euid(), egid()) };
        if is_root {
            chown(&mail, Some(mail_uid), Some(mail_gid))?;
        }
        fs::set_permissions(&mail, fs::Permissions::from_mode(0o700))?;
        write_hs256_key(&root.join("keys"), "default", oauth)?;

        let oauth_conf = root.join("oauth2.conf.ext");
        let mut oc = String::new();
        oc.push_str("introspection_mode = local\n");
        let _ = writeln!(oc, "local_validation_key_dict = fs:posix:prefix={}/keys/", root.display());
        oc.push_str("username_attribute = sub\n");
        if !oauth.issuer.is_empty() {
            check_config_value(&oauth.issuer)?;
            let _ = writeln!(oc, "issuers = {}", oauth.issuer);
        }
        write_file(&oauth_conf, &oc, 0o644)?;

        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            let [imap, imaps, pop3, pop3s, sasl, lmtp] = free_ports::<6>()?;
            let conf = dovecot_conf(
                &root,
                tls,
                &oauth_conf,
                [imap, imaps, pop3, pop3s, sasl, lmtp],
                mail_uid,
                mail_gid,
                is_root,
            )?;
            let conf_path = root.join("dovecot.conf");
            write_file(&conf_path, &conf, 0o644)?;
            let log = root.join("dovecot.log");
            let stderr_path = root.join("dovecot.stderr");
            let _ = fs::remove_file(&log);
            let out = fs::File::create(&stderr_path)?;
            let started = Instant::now();
            let child = Command::new(&dovecot)
                .arg("-F")
                .arg("-c")
                .arg(&conf_path)
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .process_group(0)
                .spawn()?;
            let mut proc = PeerProcess::new(child, vec![imap, imaps, pop3, pop3s, sasl, lmtp], false);
            // The master binds every listener before it serves any, so our
            // mark on the plaintext ports means the TLS ones are ours too.
            let mark = instance_mark(&root);
            let checks = [
                (imap, Some(mark.as_str())),
                (imaps, None),
                (pop3, Some(mark.as_str())),
                (pop3s, None),
                (sasl, Some("VERSION")),
                (lmtp, Some("220 ")),
            ];
            match wait_ready(&mut proc, &checks, started) {
                Ok(()) => {
                    return Ok(Dovecot {
                        imap_port: imap,
                        imaps_port: imaps,
                        pop3_port: pop3,
                        pop3s_port: pop3s,
                        sasl_port: sasl,
                        lmtp_port: lmtp,
                        startup: started.elapsed(),
                        proc,
                        dir: root,
                    });
                }
                Err(e) => {
                    proc.stop();
                    let (err, retry) = crate::process::start_failure(
                        "dovecot",
                        &e,
                        &stderr_path,
                        &log,
                        &["Address already in use", "unexpected greeting"],
                    );
                    last_err = Some(err);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    /// Also accept tokens signed with `key` that carry `"azp": azp` (Dovecot
    /// looks keys up per azp), or, with `azp = None`, tokens without azp under
    /// another key id. Takes effect without a restart, but only for new
    /// azp/kid pairs (Dovecot caches keys it has loaded). The issuer check
    /// still uses the issuer given to [`Dovecot::start`].
    pub fn add_hs256_key(&self, azp: Option<&str>, key: &OAuthKey) -> io::Result<()> {
        check_key_id(&key.key_id)?;
        let azp = match azp {
            None => "default".to_string(),
            Some(a) => escape_dovecot_identifier(a),
        };
        if azp.starts_with('.') {
            return Err(invalid(format!("unsupported azp {azp:?}")));
        }
        write_hs256_key(&self.dir.join("keys"), &azp, key)
    }

    /// Dovecot's log file (auth failures are logged with their reason).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }

    /// Last `lines` lines of Dovecot's log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.proc.stop();
    }
}

fn dovecot_conf(
    root: &Path,
    tls: &TlsFiles,
    oauth_conf: &Path,
    [imap, imaps, pop3, pop3s, sasl, lmtp]: [u16; 6],
    mail_uid: u32,
    mail_gid: u32,
    is_root: bool,
) -> io::Result<String> {
    let r = root.display();
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by crates/test-support/src/dovecot.rs; test peer only.");
    let _ = writeln!(c, "base_dir = {r}/run");
    let _ = writeln!(c, "state_dir = {r}/state");
    let _ = writeln!(c, "instance_name = ece-test-dovecot");
    let _ = writeln!(c, "login_greeting = {}", instance_mark(root));
    for k in ["log_path", "info_log_path", "debug_log_path"] {
        let _ = writeln!(c, "{k} = {r}/dovecot.log");
    }
    c.push_str("listen = 127.0.0.1\n");
    c.push_str("protocols = imap pop3 lmtp\n");
    c.push_str("postmaster_address = postmaster@localhost\n");
    c.push_str("ssl = yes\n");
    let _ = writeln!(c, "ssl_cert = <{}", fs::canonicalize(&tls.cert_chain_pem)?.display());
    let _ = writeln!(c, "ssl_key = <{}", fs::canonicalize(&tls.key_pem)?.display());
    c.push_str("auth_failure_delay = 0\n");
    c.push_str("disable_plaintext_auth = yes\n");
    c.push_str("auth_mechanisms = xoauth2 oauthbearer\n");
    c.push_str("auth_verbose = yes\n");
    c.push_str("mail_max_userip_connections = 100\n");
    c.push_str("first_valid_uid = 1\nfirst_valid_gid = 1\n");
    c.push_str("mail_location = maildir:~/Maildir\n");
    if !is_root {
        // Unprivileged: every process runs as us, no chroots.
        let me = user_name(euid()).ok_or_else(|| io::Error::other("cannot find own user name"))?;
        let group = group_name(egid()).ok_or_else(|| io::Error::other("cannot find own group name"))?;
        let _ = writeln!(c, "default_internal_user = {me}");
        let _ = writeln!(c, "default_internal_group = {group}");
        let _ = writeln!(c, "default_login_user = {me}");
    }
    // Disable the auth penalty (anvil delays auth for an IP by 2, 4, 8, 15 s
    // after failures, which would slow down negative tests): auth cannot
    // open a mode-0 socket (as root it runs as the internal user).
    let _ = write!(
        c,
        "service anvil {{\n{}  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n",
        if is_root { "" } else { "  chroot =\n" }
    );
    let _ = write!(
        c,
        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n",
        oauth_conf.display()
    );
    let _ = write!(
        c,
        "userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={r}/mail/%u allow_all_users=yes\n}}\n"
    );
    let chroot = if is_root { "" } else { "  chroot =\n" };
    let _ = write!(
        c,
        "service imap-login {{\n{chroot}  inet_listener imap {{\n    port = {imap}\n  }}\n  \
         inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n"
    );
    let _ = write!(
        c,
        "service pop3-login {{\n{chroot}  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  \
         inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n}}\n"
    );
    let _ = write!(
        c,
        "service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp}\n  }}\n}}\n"
    );
    // A listener whose name ends in "-client" speaks the auth client protocol
    // (what Postfix's smtpd_sasl_type = dovecot expects).
    let _ = write!(
        c,
        "service auth {{\n  inet_listener sasl-client {{\n    address = 127.0.0.1\n    \
         port = {sasl}\n  }}\n}}\n"
    );
    Ok(c)
}

fn write_hs256_key(keys: &Path, azp: &str, key: &OAuthKey) -> io::Result<()> {
    let d = keys.join(azp).join("HS256");
    fs::create_dir_all(&d)?;
    for p in [keys.to_path_buf(), keys.join(azp), d.clone()] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
    }
    write_file(&d.join(&key.key_id), &base64_std(&key.hs256_secret), 0o644)
}

fn check_key_id(kid: &str) -> io::Result<()> {
    let ok = !kid.is_empty() && !kid.starts_with('.') && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("unsupported key_id {kid:?}")))
    }
}

/// Dovecot's escape_identifier() for azp/kid: '/' and '%' are %-encoded.
fn escape_dovecot_identifier(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2f")
}
