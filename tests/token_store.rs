//! Crash safety of the refresh token store, with real process kills.
//!
//! The test re-executes its own binary as a child that does nothing but
//! rotate tokens (`writer_child`) and SIGKILLs it, many times, and after
//! each kill checks what a restarted agent would see: a complete token, old
//! or new (never missing, empty, partial or an error), never going
//! backwards, and no temporary file left behind once loaded.
//!
//! When to kill is decided by what the writer has done, not by the clock:
//! every other kill waits until a temporary file is there (a save in
//! progress), the others until the stored token has advanced (then adds a
//! short random delay, to land anywhere in the next save). So the counts it
//! asserts hold on a loaded machine too.
//!
//! It must not touch anything outside its own temporary directory, and it is
//! bounded: a fixed number of kills, bounded waits, and a writer that stops
//! by itself.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use secrecy::{ExposeSecret, SecretString};

/// When set, `writer_child` is the crash test's writer and this is its store.
const WRITER_ENV: &str = "ECE_STORE_CRASH_WRITER";
/// The writer prints this once it is about to start saving.
const READY: &str = "ece-store-writer-ready";
const KILLS: u32 = 150;
const MAX_DELAY_MS: u64 = 20;
/// Padding so a write is large enough to be caught half done.
const PADDING: usize = 48 * 1024;
/// The writer stops by itself after this, should the parent ever fail to kill it.
const WRITER_LIFETIME: Duration = Duration::from_secs(60);
/// The longest wait for the writer to reach the state a kill waits for:
/// only a writer that hangs takes this long.
const WAIT_FOR_WRITER: Duration = Duration::from_secs(30);

/// The token of rotation `n`: `rt-<n>:` and padding that depends on `n`, so a
/// torn or mixed file cannot pass for a valid token.
fn token_value(n: u64) -> String {
    let fill = char::from(b'a' + (n % 26) as u8);
    let mut v = format!("rt-{n}:");
    v.extend(std::iter::repeat_n(fill, PADDING));
    v
}

fn stored(n: u64) -> StoredToken {
    StoredToken {
        refresh_token: SecretString::from(token_value(n)),
        rotated_at: n as i64,
        account: Some("writer@contoso.example".to_string()),
        public_client: false,
    }
}

/// The rotation number of a stored token, checking the whole value.
fn rotation_of(token: &StoredToken) -> u64 {
    let value = token.refresh_token.expose_secret();
    let n = value
        .strip_prefix("rt-")
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(n, _)| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("stored token does not look like rt-<n>: {} bytes", value.len()));
    assert!(value == token_value(n), "token rt-{n} is not complete ({} bytes)", value.len());
    assert_eq!(token.rotated_at, n as i64, "rotated_at does not match the token");
    n
}

fn temp_files(dir: &Path, file_name: &str) -> usize {
    let prefix = format!(".{file_name}.tmp-");
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
        .count()
}

/// The writer: a no-op in a normal test run; in the child, rotates tokens
/// in a loop until killed.
#[test]
fn writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let store = TokenStore::new(PathBuf::from(path));
    let current = store.load().expect("writer: load").expect("writer: the store was seeded");
    let mut n = rotation_of(&current) + 1;
    println!("{READY}");
    let started = Instant::now();
    while started.elapsed() < WRITER_LIFETIME {
        store.save(&stored(n)).expect("writer: save");
        n += 1;
    }
}

/// Kills the child if the parent panics, so no writer outlives the test.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn killing_the_writer_at_any_step_leaves_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let store = TokenStore::new(path.clone());
    store.save(&stored(0)).unwrap();
    let seeded = store.load().unwrap().expect("seeded token");
    assert_eq!(rotation_of(&seeded), 0, "the run starts from the seeded token");

    let exe = std::env::current_exe().unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let seed = (nanos ^ u64::from(std::process::id()).rotate_left(32)) | 1;
    let mut rng = seed;

    let started = Instant::now();
    let (mut last, mut advanced, mut mid_write) = (0u64, 0u32, 0u32);
    for i in 0..KILLS {
        let child = Command::new(&exe)
            .args(["--exact", "writer_child", "--nocapture", "--test-threads", "1"])
            .env(WRITER_ENV, &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = Writer(child);

        // Wait until the child is past start-up, so the delay lands in its save loop.
        let stdout = writer.0.stdout.take().unwrap();
        // Keep the pipe open until the kill: a closed stdout would make the writer's next print fail.
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.by_ref().map_while(Result::ok).any(|line| line.contains(READY));
        if !ready {
            let mut err = String::new();
            if let Some(mut e) = writer.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("iteration {i}: the writer exited before starting:\n{err}");
        }
        let mid_save = i % 2 == 1;
        let waited = Instant::now();
        loop {
            let reached = if mid_save {
                temp_files(dir.path(), "token.json") > 0
            } else {
                // A live writer's temporary file is never cleaned up by a
                // load, so this look does not disturb the save in progress.
                store.load().ok().flatten().is_some_and(|t| rotation_of(&t) > last)
            };
            if reached {
                break;
            }
            assert!(
                waited.elapsed() < WAIT_FOR_WRITER,
                "iteration {i}: the writer made no progress in {WAIT_FOR_WRITER:?} (mid_save: {mid_save})"
            );
            std::thread::yield_now();
        }
        if !mid_save {
            std::thread::sleep(Duration::from_millis(xorshift(&mut rng) % (MAX_DELAY_MS + 1)));
        }

        if let Some(status) = writer.0.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = writer.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("iteration {i}: the writer stopped on its own ({status}):\n{err}");
        }
        writer.0.kill().unwrap();
        let status = writer.0.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "iteration {i}: {status}");
        }
        #[cfg(not(unix))]
        let _ = status;
        drop(lines);

        if temp_files(dir.path(), "token.json") > 0 {
            mid_write += 1;
        }
        let token = match store.load() {
            Ok(Some(t)) => t,
            Ok(None) => panic!("iteration {i}: the store is empty after a kill"),
            Err(e) => panic!("iteration {i}: the store is unreadable after a kill: {e}"),
        };
        let n = rotation_of(&token);
        assert!(n >= last, "iteration {i}: the token went back from rt-{last} to rt-{n}");
        if n > last {
            advanced += 1;
        }
        last = n;
        assert_eq!(temp_files(dir.path(), "token.json"), 0, "iteration {i}: temp files left after load");
    }

    eprintln!(
        "token store crash test: {KILLS} kills in {:.1?} (seed {seed:#x}); {mid_write} landed with a temp file present; \
         {advanced} iterations saw the token advance; last token rt-{last}",
        started.elapsed()
    );
    // Every other iteration waited for the token to advance before its kill.
    assert!(
        advanced >= KILLS / 2,
        "only {advanced} of {KILLS} iterations saw the writer rotate the token"
    );
    // The other half killed the writer as soon as a save was in progress; a
    // save takes a write and an fsync, so most of those kills land before its
    // rename. Were none of them mid-save, this test would prove nothing.
    assert!(mid_write >= 1, "no kill of {KILLS} landed while a save was in progress");
    assert!(last > 0);
}
