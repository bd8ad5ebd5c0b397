//! Postfix 3.7 as a real interop peer: a submission service only (STARTTLS
//! required, AUTH XOAUTH2/OAUTHBEARER only after STARTTLS), SASL through a
//! [`Dovecot`]'s auth service, delivering no mail (every transport is
//! `error:`).
//!
//! Owns Postfix's generated `main.cf`/`master.cf` and its queue directories
//! inside a caller-supplied directory (`dir/postfix`, one Postfix per
//! directory); spawning, readiness and cleanup are [`crate::process`]'s. It
//! must not reach beyond 127.0.0.1. Postfix's master must run as root:
//! [`Postfix::start`] fails with `PermissionDenied` otherwise. Install it with
//! `scripts/install-test-peers.sh` (Debian 12).

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::dovecot::Dovecot;
use crate::net::free_ports;
use crate::pki::TlsFiles;
use crate::process::{
    PeerProcess, START_ATTEMPTS, check_config_path, euid, find_binary, group_gid, instance_mark, is_executable, make_traversable,
    not_found, tail, user_gid, user_uid, wait_ready, write_file,
};

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
        Postfix::start_with(dir, tls, dovecot, false)
    }

    /// As [`Postfix::start`], but mail from an authenticated client is
    /// delivered to any address through `dovecot`'s LMTP (queue manager,
    /// cleanup and the LMTP client run too), as Exchange Online delivers
    /// into the recipient's mailbox.
    pub fn start_delivering(dir: &Path, tls: &TlsFiles, dovecot: &Dovecot) -> io::Result<Postfix> {
        Postfix::start_with(dir, tls, dovecot, true)
    }

    fn start_with(dir: &Path, tls: &TlsFiles, dovecot: &Dovecot, delivering: bool) -> io::Result<Postfix> {
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
        if delivering {
            // What `postfix start` would create: the queues mail goes through.
            for name in [
                "incoming", "active", "deferred", "defer", "bounce", "trace", "flush", "hold", "corrupt", "saved",
            ] {
                let d = queue.join(name);
                fs::create_dir_all(&d)?;
                chown(&d, Some(owner_uid), Some(owner_gid))?;
                fs::set_permissions(&d, fs::Permissions::from_mode(0o700))?;
            }
            let d = queue.join("maildrop");
            fs::create_dir_all(&d)?;
            chown(&d, Some(owner_uid), Some(postdrop))?;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o730))?;
        }
        chown(&data, Some(owner_uid), Some(owner_gid))?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;

        let log = root.join("postfix.log");
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            let [port] = free_ports::<1>()?;
            let mut main_cf = postfix_main_cf(&root, tls, dovecot.sasl_port)?;
            if delivering {
                let lmtp = format!("lmtp:inet:127.0.0.1:{}", dovecot.lmtp_port);
                main_cf = main_cf
                    .replace(
                        "default_transport = error:test peer delivers no mail",
                        &format!("default_transport = {lmtp}"),
                    )
                    .replace(
                        "relay_transport = error:test peer delivers no mail",
                        &format!("relay_transport = {lmtp}"),
                    )
                    .replace(
                        "smtpd_recipient_restrictions = reject",
                        "smtpd_recipient_restrictions = permit_sasl_authenticated, reject",
                    );
            }
            write_file(&etc.join("main.cf"), &main_cf, 0o644)?;
            let mut master_cf = format!(
                "# Generated by crates/test-support/src/postfix.rs; test peer only.\n\
                 127.0.0.1:{port} inet n - n - - smtpd\n  -o syslog_name=postfix/submission\n\
                 postlog   unix-dgram n - n - 1 postlogd\n\
                 anvil     unix - - n - 1 anvil\n\
                 tlsmgr    unix - - n 1000? 1 tlsmgr\n"
            );
            if delivering {
                master_cf.push_str(
                    "cleanup   unix n - n - 0 cleanup\n\
                     qmgr      unix n - n 300 1 qmgr\n\
                     rewrite   unix - - n - - trivial-rewrite\n\
                     bounce    unix - - n - 0 bounce\n\
                     defer     unix - - n - 0 bounce\n\
                     trace     unix - - n - 0 bounce\n\
                     verify    unix - - n - 1 verify\n\
                     flush     unix n - n 1000? 0 flush\n\
                     proxymap  unix - - n - - proxymap\n\
                     error     unix - - n - - error\n\
                     retry     unix - - n - - error\n\
                     discard   unix - - n - - discard\n\
                     lmtp      unix - - n - - lmtp\n\
                     scache    unix - - n - 1 scache\n",
                );
            }
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
                    let (err, retry) = crate::process::start_failure(
                        "postfix",
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
        "# Generated by crates/test-support/src/postfix.rs; test peer only.\n\
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
