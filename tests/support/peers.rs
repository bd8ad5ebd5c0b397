//! Real third-party mail servers as interop test peers: Dovecot 2.3 (IMAP,
//! IMAPS, POP3, POP3S with XOAUTH2/OAUTHBEARER validated locally against an
//! HS256 key) and Postfix 3.7 (submission with STARTTLS, SASL through
//! Dovecot's auth service).
//!
//! Each peer runs entirely inside a caller-supplied directory (normally a
//! `tempfile::TempDir`), listens on free high ports of 127.0.0.1 only, and is
//! killed together with all its child processes when the handle is dropped.
//! Install the servers with `scripts/install-test-peers.sh` (Debian 12).
//!
//! Std only, apart from what the caller brings: the TLS files (made with
//! rcgen) and the OAuth key. For minting test tokens the module carries its own
//! small SHA-256/HMAC-SHA-256 and base64 code (test-only; not constant time,
//! not for production use).
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
//! * One Dovecot and one Postfix per directory (they use `dir/dovecot` and
//!   `dir/postfix`).
//! * Postfix's master must run as root; [`Postfix::start`] fails with
//!   `PermissionDenied` otherwise. Dovecot also works unprivileged.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::{Pid, Signal};

/// How long a peer may take to accept connections on all its ports.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer may take to exit after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Attempts with fresh ports when another process grabbed one of ours.
const START_ATTEMPTS: usize = 3;
/// Mail uid/gid used for Dovecot's mail processes when running as root.
const NOBODY: u32 = 65534;

/// Server certificate chain and private key for the peers.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM: leaf certificate first, then any intermediates / the CA.
    pub cert_chain_pem: PathBuf,
    /// PEM: PKCS#8 private key of the leaf.
    pub key_pem: PathBuf,
}

/// The HS256 key Dovecot validates bearer tokens with (local JWT validation).
#[derive(Clone, Debug)]
pub struct OAuthKey {
    /// JWT header `kid`; only `[A-Za-z0-9._-]`, not starting with a dot.
    pub key_id: String,
    /// Raw HMAC secret.
    pub hs256_secret: Vec<u8>,
    /// Required `iss` claim; empty means Dovecot does not check the issuer.
    pub issuer: String,
}

// ---------------------------------------------------------------------------
// Dovecot
// ---------------------------------------------------------------------------

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
            let [imap, imaps, pop3, pop3s, sasl] = free_ports::<5>()?;
            let conf = dovecot_conf(
                &root,
                tls,
                &oauth_conf,
                [imap, imaps, pop3, pop3s, sasl],
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
            let mut proc = PeerProcess::new(child, vec![imap, imaps, pop3, pop3s, sasl], false);
            // The master binds every listener before it serves any, so our
            // mark on the plaintext ports means the TLS ones are ours too.
            let mark = instance_mark(&root);
            let checks = [
                (imap, Some(mark.as_str())),
                (imaps, None),
                (pop3, Some(mark.as_str())),
                (pop3s, None),
                (sasl, Some("VERSION")),
            ];
            match wait_ready(&mut proc, &checks, started) {
                Ok(()) => {
                    return Ok(Dovecot {
                        imap_port: imap,
                        imaps_port: imaps,
                        pop3_port: pop3,
                        pop3s_port: pop3s,
                        sasl_port: sasl,
                        startup: started.elapsed(),
                        proc,
                        dir: root,
                    });
                }
                Err(e) => {
                    proc.stop();
                    let diag = format!(
                        "dovecot failed to start: {e}\n--- {} ---\n{}\n--- {} ---\n{}",
                        stderr_path.display(),
                        tail(&stderr_path, 20),
                        log.display(),
                        tail(&log, 30)
                    );
                    let retry = diag.contains("Address already in use") || diag.contains("unexpected greeting");
                    last_err = Some(io::Error::new(e.kind(), diag));
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
    [imap, imaps, pop3, pop3s, sasl]: [u16; 5],
    mail_uid: u32,
    mail_gid: u32,
    is_root: bool,
) -> io::Result<String> {
    let r = root.display();
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by tests/support/peers.rs; test peer only.");
    let _ = writeln!(c, "base_dir = {r}/run");
    let _ = writeln!(c, "state_dir = {r}/state");
    let _ = writeln!(c, "instance_name = ece-test-dovecot");
    let _ = writeln!(c, "login_greeting = {}", instance_mark(root));
    for k in ["log_path", "info_log_path", "debug_log_path"] {
        let _ = writeln!(c, "{k} = {r}/dovecot.log");
    }
    c.push_str("listen = 127.0.0.1\n");
    c.push_str("protocols = imap pop3\n");
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
        "userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={r}/mail/%u\n}}\n"
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

// ---------------------------------------------------------------------------
// Postfix
// ---------------------------------------------------------------------------

/// A running Postfix 3.7 instance with only a submission service. Dropping it
/// stops the server. Needs root.
pub struct Postfix {
    /// Submission (SMTP): STARTTLS offered and required; AUTH XOAUTH2 and
    /// OAUTHBEARER only after STARTTLS.
    pub submission_port: u16,
    /// Time from spawning the master until the port sent its greeting.
    pub startup: Duration,
    proc: PeerProcess,
    dir: PathBuf,
}

impl Postfix {
    /// Starts Postfix's master in the foreground with its own
    /// config/queue/data directories under `dir/postfix`, SASL through
    /// `dovecot`'s auth service, and waits for the submission greeting.
    /// Postfix delivers no mail: every transport is `error:`.
    pub fn start(dir: &Path, tls: &TlsFiles, dovecot: &Dovecot) -> io::Result<Postfix> {
        if euid() != 0 {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "Postfix's master must run as root"));
        }
        let master = postfix_master().ok_or_else(|| not_found("postfix is not installed; run scripts/install-test-peers.sh as root"))?;
        let owner_uid = user_uid("postfix").ok_or_else(|| not_found("no 'postfix' user"))?;
        let owner_gid = user_gid("postfix").ok_or_else(|| not_found("no 'postfix' user"))?;
        let postdrop = group_gid("postdrop").ok_or_else(|| not_found("no 'postdrop' group"))?;

        let dir = fs::canonicalize(dir)?;
        make_traversable(&dir)?;
        let root = dir.join("postfix");
        check_config_path(&root)?;
        check_config_path(&tls.cert_chain_pem)?;
        check_config_path(&tls.key_pem)?;
        let etc = root.join("etc");
        let queue = root.join("queue");
        let data = root.join("data");
        for d in [&root, &etc, &queue, &data, &queue.join("pid")] {
            fs::create_dir_all(d)?;
            fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        }
        // What `postfix check` would create, minus the queues we never use.
        for (name, gid, mode) in [("private", owner_gid, 0o700), ("public", postdrop, 0o710)] {
            let d = queue.join(name);
            fs::create_dir_all(&d)?;
            chown(&d, Some(owner_uid), Some(gid))?;
            fs::set_permissions(&d, fs::Permissions::from_mode(mode))?;
        }
        chown(&data, Some(owner_uid), Some(owner_gid))?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;

        let log = root.join("postfix.log");
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            let [port] = free_ports::<1>()?;
            let main_cf = postfix_main_cf(&root, tls, dovecot.sasl_port)?;
            write_file(&etc.join("main.cf"), &main_cf, 0o644)?;
            let master_cf = format!(
                "# Generated by tests/support/peers.rs; test peer only.\n\
                 127.0.0.1:{port} inet n - n - - smtpd\n  -o syslog_name=postfix/submission\n\
                 postlog   unix-dgram n - n - 1 postlogd\n\
                 anvil     unix - - n - 1 anvil\n\
                 tlsmgr    unix - - n 1000? 1 tlsmgr\n"
            );
            write_file(&etc.join("master.cf"), &master_cf, 0o644)?;
            // Postfix re-reads a config file modified in the current second
            // every 300 ms until it "cools down" (up to ~1.5 s of startup).
            for f in ["main.cf", "master.cf"] {
                fs::File::options()
                    .write(true)
                    .open(etc.join(f))?
                    .set_modified(SystemTime::now() - Duration::from_secs(10))?;
            }
            let _ = fs::remove_file(queue.join("pid").join("master.pid"));
            let stderr_path = root.join("master.stderr");
            let out = fs::File::create(&stderr_path)?;
            let started = Instant::now();
            // `master -s` stays in the foreground and makes itself a session
            // and process group leader (so no process_group() here: its
            // setsid() would fail).
            let child = Command::new(&master)
                .arg("-c")
                .arg(&etc)
                .arg("-s")
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .spawn()?;
            let mut proc = PeerProcess::new(child, vec![port], true);
            let mark = instance_mark(&root);
            match wait_ready(&mut proc, &[(port, Some(mark.as_str()))], started) {
                Ok(()) => {
                    return Ok(Postfix {
                        submission_port: port,
                        startup: started.elapsed(),
                        proc,
                        dir: root,
                    });
                }
                Err(e) => {
                    proc.stop();
                    let diag = format!(
                        "postfix failed to start: {e}\n--- {} ---\n{}\n--- {} ---\n{}",
                        stderr_path.display(),
                        tail(&stderr_path, 20),
                        log.display(),
                        tail(&log, 30)
                    );
                    let retry = diag.contains("Address already in use") || diag.contains("unexpected greeting");
                    last_err = Some(io::Error::new(e.kind(), diag));
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    /// Postfix's log file (SASL failures are logged there).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postfix.log")
    }

    /// Last `lines` lines of Postfix's log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.proc.stop();
    }
}

fn postfix_main_cf(root: &Path, tls: &TlsFiles, sasl_port: u16) -> io::Result<String> {
    let r = root.display();
    let key = fs::canonicalize(&tls.key_pem)?;
    let chain = fs::canonicalize(&tls.cert_chain_pem)?;
    let mark = instance_mark(root);
    Ok(format!(
        "# Generated by tests/support/peers.rs; test peer only.\n\
         compatibility_level = 3.6\n\
         queue_directory = {r}/queue\n\
         data_directory = {r}/data\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         myhostname = localhost\n\
         mydomain = localdomain\n\
         mydestination =\n\
         relay_domains =\n\
         local_recipient_maps =\n\
         alias_maps =\n\
         alias_database =\n\
         biff = no\n\
         default_transport = error:test peer delivers no mail\n\
         local_transport = error:test peer delivers no mail\n\
         relay_transport = error:test peer delivers no mail\n\
         maillog_file_prefixes = {r}\n\
         maillog_file = {r}/postfix.log\n\
         smtpd_banner = $myhostname ESMTP {mark}\n\
         smtpd_tls_chain_files = {key}, {chain}\n\
         smtpd_tls_security_level = encrypt\n\
         smtpd_tls_auth_only = yes\n\
         smtpd_sasl_auth_enable = yes\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = inet:127.0.0.1:{sasl_port}\n\
         smtpd_sasl_security_options = noanonymous\n\
         smtpd_relay_restrictions = permit_sasl_authenticated, reject\n\
         smtpd_recipient_restrictions = reject\n",
        key = key.display(),
        chain = chain.display(),
    ))
}

fn postfix_master() -> Option<PathBuf> {
    let mut candidates = vec![];
    if let Some(postconf) = find_binary("postconf")
        && let Ok(out) = Command::new(postconf).args(["-dh", "daemon_directory"]).output()
    {
        let d = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !d.is_empty() {
            candidates.push(PathBuf::from(d).join("master"));
        }
    }
    candidates.push("/usr/lib/postfix/sbin/master".into());
    candidates.push("/usr/libexec/postfix/master".into());
    candidates.into_iter().find(|p| is_executable(p))
}

// ---------------------------------------------------------------------------
// Processes, ports, files
// ---------------------------------------------------------------------------

// The syscalls through rustix's safe wrappers: the package forbids `unsafe`.
const SIGTERM: Signal = Signal::TERM;
const SIGKILL: Signal = Signal::KILL;

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn egid() -> u32 {
    rustix::process::getegid().as_raw()
}

/// Sends `sig` to a process (`pid` > 0) or, negated, to a process group;
/// errors (ESRCH) are irrelevant here.
fn kill(pid: i32, sig: Signal) {
    let _ = match Pid::from_raw(pid.abs()) {
        Some(p) if pid > 0 => rustix::process::kill_process(p, sig),
        Some(p) => rustix::process::kill_process_group(p, sig),
        None => Ok(()),
    };
}

/// A server master process that leads its own process group.
struct PeerProcess {
    child: Child,
    /// TCP ports that must be closed once stop() returns.
    ports: Vec<u16>,
    /// Kill the workers before the master so that the master reaps them
    /// (Postfix's master exits on SIGTERM without reaping its children;
    /// Dovecot's master reaps them itself and would respawn killed ones).
    kill_workers_first: bool,
    stopped: bool,
}

impl PeerProcess {
    fn new(child: Child, ports: Vec<u16>, kill_workers_first: bool) -> Self {
        PeerProcess {
            child,
            ports,
            kill_workers_first,
            stopped: false,
        }
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal_group(&self, sig: Signal) {
        if self.pgid() > 1 {
            kill(-self.pgid(), sig);
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM to the whole process group, bounded wait, then SIGKILL to the
    /// group; always reaps the master, then waits (bounded) until the
    /// listening ports are closed.
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.kill_workers_first && self.running() {
            let deadline = Instant::now() + STOP_GRACE;
            loop {
                let workers: Vec<i32> = group_members(self.pgid()).into_iter().filter(|&p| p != self.pgid()).collect();
                if workers.is_empty() || Instant::now() > deadline || !self.running() {
                    break;
                }
                for pid in workers {
                    kill(pid, SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if self.running() {
            self.signal_group(SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && self.running() {
                std::thread::sleep(Duration::from_millis(5));
            }
            if self.running() {
                self.signal_group(SIGKILL);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Sweep stragglers (workers that inherited the listening sockets);
        // if any are left, init reaps them.
        self.signal_group(SIGKILL);
        let deadline = Instant::now() + STOP_GRACE;
        for &port in &self.ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while Instant::now() < deadline && TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Processes (including zombies) whose process group is `pgid`, from /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // "pid (comm) state ppid pgrp ..."; comm may contain spaces/parens.
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok())
                    == Some(pgid)
            })
        })
        .collect()
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until each port accepts a connection and, where a greeting prefix is
/// given, sends a first line starting with it.
fn wait_ready(proc: &mut PeerProcess, checks: &[(u16, Option<&str>)], started: Instant) -> io::Result<()> {
    let deadline = started + START_TIMEOUT;
    for &(port, greeting) in checks {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if let Some(status) = proc.child.try_wait()? {
                return Err(io::Error::other(format!("server exited early with {status}")));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("port {port} not ready after {START_TIMEOUT:?}"),
                ));
            }
            let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let Some(mark) = greeting else { break };
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut line = String::new();
            match BufReader::new(&stream).read_line(&mut line) {
                Ok(_) if line.contains(mark) => break,
                Ok(_) if line.is_empty() => {
                    // Closed before greeting: service still starting.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(_) => {
                    return Err(io::Error::other(format!("port {port}: unexpected greeting {:?}", line.trim_end())));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    Ok(())
}

/// This instance's mark in its greeting: its private directory's name. The
/// ports are found free, released, then bound by the server, so another
/// test's server may take one in between; a greeting without the mark is
/// someone else's, and the start is tried again on other ports.
fn instance_mark(root: &Path) -> String {
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("ece-test-peer-{}", name.trim_start_matches('.'))
}

/// `N` distinct free ports on 127.0.0.1 (bound together, then released).
fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let listeners = (0..N).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<io::Result<Vec<_>>>()?;
    let mut ports = [0u16; N];
    for (p, l) in ports.iter_mut().zip(&listeners) {
        *p = l.local_addr()?.port();
    }
    Ok(ports)
}

/// Searches `PATH`, then /usr/sbin, /usr/bin, /sbin, /bin, /usr/local/sbin.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Lets unprivileged server processes (nobody, postfix) pass through `dir`;
/// checks that its ancestors already allow that.
fn make_traversable(dir: &Path) -> io::Result<()> {
    let mode = fs::metadata(dir)?.permissions().mode();
    fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o7777) | 0o011))?;
    for a in dir.ancestors().skip(1) {
        if fs::metadata(a)?.permissions().mode() & 0o001 == 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not traversable by other users; the peers' unprivileged \
                     processes could not reach {}",
                    a.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

fn check_config_path(p: &Path) -> io::Result<()> {
    check_config_value(&p.to_string_lossy())
}

fn check_config_value(s: &str) -> io::Result<()> {
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'#,$%{}<>\\".contains(c))
    {
        return Err(invalid(format!("unsupported character in config value {s:?}")));
    }
    Ok(())
}

fn write_file(p: &Path, content: &str, mode: u32) -> io::Result<()> {
    let mut f = fs::File::create(p)?;
    f.write_all(content.as_bytes())?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

fn tail(p: &Path, lines: usize) -> String {
    match fs::read(p) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            let v: Vec<&str> = s.lines().collect();
            v[v.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}

fn not_found(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg.to_string())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Field `idx` of the /etc/passwd or /etc/group line whose first field is `name`
/// (or, for `by_id`, whose third field is the given id).
fn db_field(file: &str, key_idx: usize, key: &str, idx: usize) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(key_idx) == Some(&key))
        .and_then(|f| f.get(idx).map(|s| s.to_string()))
}

fn user_uid(name: &str) -> Option<u32> {
    db_field("/etc/passwd", 0, name, 2)?.parse().ok()
}

fn user_gid(name: &str) -> Option<u32> {
    db_field("/etc/passwd", 0, name, 3)?.parse().ok()
}

fn group_gid(name: &str) -> Option<u32> {
    db_field("/etc/group", 0, name, 2)?.parse().ok()
}

fn group_name(gid: u32) -> Option<String> {
    db_field("/etc/group", 2, &gid.to_string(), 0)
}

fn user_name(uid: u32) -> Option<String> {
    db_field("/etc/passwd", 2, &uid.to_string(), 0).or_else(|| std::env::var("USER").ok())
}

// ---------------------------------------------------------------------------
// Tokens and SASL payloads
// ---------------------------------------------------------------------------

/// A delegated Exchange Online access token as Entra ID would issue it for
/// `user` (audience outlook.office.com, `upn`, the space-separated `scp`),
/// signed with `key`, valid `lifetime` seconds from now.
pub fn delegated_exchange_jwt(key: &OAuthKey, user: &str, scp: &str, lifetime: u64) -> String {
    let claims = format!(r#"{{"aud":"https://outlook.office.com","upn":"{user}","scp":"{scp}","tid":"contoso"}}"#);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    mint_hs256_jwt(key, user, &claims, now + lifetime)
}

/// An HS256-signed JWT that the Dovecot peer accepts for user `sub`.
///
/// Header: `{"alg":"HS256","typ":"JWT","kid":<key_id>}`. Claims: `iss` (when
/// `key.issuer` is non-empty), `sub`, `iat` (now), `exp`, then
/// `extra_claims_json`: either `""`, a JSON object (`{"aud":"x"}`) or its
/// members (`"aud":"x"`). An `iss` or `iat` in the extras replaces the
/// default. Note: an `azp` claim makes Dovecot look the key up under that
/// azp (see [`Dovecot::add_hs256_key`]).
pub fn mint_hs256_jwt(key: &OAuthKey, sub: &str, extra_claims_json: &str, exp_unix: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    mint_hs256_jwt_at(key, sub, extra_claims_json, exp_unix, now)
}

fn mint_hs256_jwt_at(key: &OAuthKey, sub: &str, extra: &str, exp: u64, iat: u64) -> String {
    let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":{}}}"#, json_str(&key.key_id));
    let mut extra = extra.trim();
    if let Some(inner) = extra.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
        extra = inner.trim();
    }
    let mut claims = String::from("{");
    if !key.issuer.is_empty() && !extra.contains("\"iss\"") {
        let _ = write!(claims, "\"iss\":{},", json_str(&key.issuer));
    }
    let _ = write!(claims, "\"sub\":{},", json_str(sub));
    if !extra.contains("\"iat\"") {
        let _ = write!(claims, "\"iat\":{iat},");
    }
    let _ = write!(claims, "\"exp\":{exp}");
    if !extra.is_empty() {
        claims.push(',');
        claims.push_str(extra);
    }
    claims.push('}');
    let signing_input = format!("{}.{}", base64url(header.as_bytes()), base64url(claims.as_bytes()));
    let sig = hmac_sha256(&key.hs256_secret, signing_input.as_bytes());
    format!("{signing_input}.{}", base64url(&sig))
}

/// Base64 of the SASL XOAUTH2 initial response
/// (`user=<user>\x01auth=Bearer <token>\x01\x01`).
pub fn xoauth2_initial_response(user: &str, token: &str) -> String {
    base64_std(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// Base64 of the SASL OAUTHBEARER (RFC 7628) initial response.
pub fn oauthbearer_initial_response(user: &str, token: &str) -> String {
    base64_std(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn base64_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64_std(data: &[u8]) -> String {
    base64_with(data, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true)
}

/// Base64url without padding (RFC 4648 §5, as used by JWS).
pub fn base64url(data: &[u8]) -> String {
    base64_with(data, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false)
}

// --- SHA-256 (FIPS 180-4) and HMAC (RFC 2104): test-only, not constant time.

const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
    0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
    0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
    0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    // Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian.
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(SHA256_K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// HMAC-SHA-256 (RFC 2104; block size 64).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(data);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6 (key longer than the block size).
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn base64_variants() {
        assert_eq!(base64_std(b""), "");
        assert_eq!(base64_std(b"f"), "Zg==");
        assert_eq!(base64_std(b"fo"), "Zm8=");
        assert_eq!(base64_std(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn jwt_matches_independent_implementation() {
        // Reference computed with Python's hmac/hashlib/base64 for the same
        // header and claims.
        let key = OAuthKey {
            key_id: "testkid".into(),
            hs256_secret: b"supersecret-key-0123456789abcdef".to_vec(),
            issuer: "https://issuer.test/".into(),
        };
        let jwt = mint_hs256_jwt_at(&key, "alice@example.test", r#"{"aud":"x"}"#, 2000000000, 1700000000);
        assert_eq!(jwt, JWT_REFERENCE);
    }

    const JWT_REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InRlc3RraWQifQ.\
        eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0LyIsInN1YiI6ImFsaWNlQGV4YW1wbGUudGVzdCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoyMDAwMDAwMDAwLCJhdWQiOiJ4In0.\
        j2LBNIhMOxR3sJ1yGVphoPprX2A6U5Xwa2fw2e8_5nk";
}
