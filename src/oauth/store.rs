//! The on-disk refresh token store: one small JSON document per mailbox,
//! `{"version":1,"refresh_token":"...","rotated_at":<unix seconds>,"account":"<upn>"}`,
//! plus `"public_client":true` for a token from `token init`'s device code flow.
//! On Windows that document is written protected with DPAPI for the machine
//! (`CryptProtectData` with `CRYPTPROTECT_LOCAL_MACHINE`, through the
//! `win-ffi` crate); a plain document, as older versions wrote it, still
//! loads, and the next rotation rewrites it protected.
//!
//! It owns reading that file and replacing it atomically and durably: a
//! temporary file in the same directory (mode 0600 on unix), written in full,
//! `fsync`ed, renamed over the target, then the directory `fsync`ed (those
//! steps are [`crate::atomic_file`]'s; the temporary file's name, its mode and
//! the stale-file cleanup are this store's). Until the
//! rename the previous file is untouched, so a crash or an error at any step
//! leaves either the old token or the new one on disk, never an empty or
//! partial file. Temporary files left by a writer that died are removed by
//! the next [`TokenStore::load`] or [`TokenStore::save`].
//!
//! It must not log, and must not put a token or the file's contents into an
//! error: errors name the file and the operation only. It does not decide
//! when to rotate; the token provider does (persist the new refresh token
//! before using the new access token).

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

#[cfg(test)]
use crate::atomic_file::FAIL_AT;
use crate::atomic_file::{self, Step, failpoint};
use crate::observation::Failure;
use crate::reason::Reason;

/// The document version this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// A store file larger than this is not ours (refresh tokens are a few KiB).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// A temporary file of another live process younger than this is a save in
/// progress and is left alone; anything older is stale.
const STALE_AFTER: Duration = Duration::from_secs(60);
/// Attempts at a fresh temporary name when one is taken.
const CREATE_ATTEMPTS: u32 = 8;

/// A refresh token as persisted. `Debug` shows the token redacted.
#[derive(Clone, Debug)]
pub struct StoredToken {
    pub refresh_token: SecretString,
    /// When this refresh token was obtained, unix seconds (90-day inactivity limit).
    pub rotated_at: i64,
    /// The user the token was issued to (`upn`), for the wrong-user check.
    pub account: Option<String>,
    /// Obtained with a public-client flow (`token init`'s device code flow):
    /// Entra ID refuses a client secret when such a token is redeemed
    /// (AADSTS700025), so it is refreshed without one.
    pub public_client: bool,
}

/// Why the store could not be read or written. Messages name the file and
/// the operation, never a token or the file's contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("token store {}: cannot {op}: {source}", path.display())]
    Io {
        /// The store file (not the temporary file) the operation was for.
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("token store {} is corrupt: {detail}; run `ece-o365-exporter token init` to replace it", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

impl StoreError {
    /// The failure reason: always [`Reason::TokenStoreUnwritable`], the one
    /// store reason of the vocabulary. It covers write-side failures, an
    /// unreadable file and a corrupt one alike: in every case the store must
    /// be fixed before a refresh token can be used; the message says which.
    pub fn reason(&self) -> Reason {
        match self {
            StoreError::Io { .. } | StoreError::Corrupt { .. } => Reason::TokenStoreUnwritable,
        }
    }

    /// The store file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::Io { path, .. } | StoreError::Corrupt { path, .. } => path,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::new(e.reason(), e.to_string())
    }
}

/// One refresh token file. Cheap to construct; holds no open file.
#[derive(Clone, Debug)]
pub struct TokenStore {
    path: PathBuf,
}

/// What is written: borrows the secret so that only the output buffer,
/// zeroed after use, holds a copy.
#[derive(Serialize)]
struct Document<'a> {
    version: u64,
    refresh_token: &'a str,
    rotated_at: i64,
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    public_client: bool,
}

/// Counter for temporary file names, unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Names of the temporary files of saves in progress in this process: never
/// stale. Names, not paths, so that two spellings of one directory agree
/// (the pid and counter in a name make it unique).
static IN_PROGRESS: Mutex<Option<HashSet<OsString>>> = Mutex::new(None);

fn in_progress<R>(f: impl FnOnce(&mut HashSet<OsString>) -> R) -> R {
    let mut guard = IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashSet::new))
}

impl TokenStore {
    pub fn new(path: PathBuf) -> Self {
        TokenStore { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, op: &'static str) -> impl FnOnce(io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// The directory holding the file (`.` for a bare file name) and the file name.
    fn parts(&self) -> Option<(PathBuf, OsString)> {
        let name = self.path.file_name()?.to_os_string();
        Some((atomic_file::parent_dir(&self.path), name))
    }

    /// Reads the stored token: `Ok(None)` when the file does not exist.
    /// Also removes stale temporary files of a writer that died.
    pub fn load(&self) -> Result<Option<StoredToken>, StoreError> {
        if let Some((dir, name)) = self.parts() {
            remove_stale_temps(&dir, &name);
        }
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("open it for reading")(e)),
        };
        let mut buf = Vec::new();
        let read = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf);
        let parsed = match read {
            Ok(_) if buf.len() as u64 > MAX_FILE_BYTES => Err(self.corrupt(format!("larger than {MAX_FILE_BYTES} bytes"))),
            Ok(_) => self.unseal(&buf).and_then(|doc| {
                let decoded = self.decode(&doc);
                if let Cow::Owned(mut plain) = doc {
                    plain.zeroize();
                }
                decoded
            }),
            Err(e) => Err(self.io("read it")(e)),
        };
        buf.zeroize();
        parsed.map(Some)
    }

    /// The JSON document in what was read: as is when it is plain JSON (a
    /// store of another system, or written before stores were protected),
    /// else, on Windows, the DPAPI blob unprotected.
    fn unseal<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, StoreError> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return Ok(Cow::Borrowed(bytes));
        }
        #[cfg(windows)]
        {
            win_ffi::dpapi::unprotect(bytes).map(Cow::Owned).map_err(|e| {
                self.corrupt(format!(
                    "neither JSON nor protected with DPAPI on this machine ({e}); a store cannot be copied from another machine"
                ))
            })
        }
        #[cfg(not(windows))]
        Ok(Cow::Borrowed(bytes))
    }

    /// Checks the document's shape field by field, so that no error message
    /// ever quotes the file (serde's type errors would).
    fn decode(&self, bytes: &[u8]) -> Result<StoredToken, StoreError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "truncated JSON",
                _ => "not valid JSON",
            };
            self.corrupt(format!("{what} (line {}, column {})", e.line(), e.column()))
        })?;
        let Value::Object(mut doc) = value else {
            return Err(self.corrupt("not a JSON object"));
        };
        match doc.get("version").map(Value::as_u64) {
            Some(Some(FORMAT_VERSION)) => {}
            Some(Some(v)) => return Err(self.corrupt(format!("unsupported version {v} (this agent reads version {FORMAT_VERSION})"))),
            _ => return Err(self.corrupt("`version` is missing or not an integer")),
        }
        let refresh_token = match doc.remove("refresh_token") {
            Some(Value::String(s)) if !s.is_empty() => SecretString::from(s),
            Some(Value::String(_)) => return Err(self.corrupt("`refresh_token` is empty")),
            Some(_) => return Err(self.corrupt("`refresh_token` is not a string")),
            None => return Err(self.corrupt("`refresh_token` is missing")),
        };
        let Some(rotated_at) = doc.get("rotated_at").and_then(Value::as_i64) else {
            return Err(self.corrupt("`rotated_at` is missing or not an integer"));
        };
        let account = match doc.remove("account") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(self.corrupt("`account` is not a string")),
        };
        let public_client = match doc.remove("public_client") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(self.corrupt("`public_client` is not true or false")),
        };
        Ok(StoredToken {
            refresh_token,
            rotated_at,
            account,
            public_client,
        })
    }

    /// Replaces the stored token atomically and durably. On an error before
    /// the rename the previous file is untouched and no temporary file is
    /// left behind; an error syncing the directory, after the rename, means
    /// the new token is in place but may not survive a power loss.
    pub fn save(&self, token: &StoredToken) -> Result<(), StoreError> {
        let (dir, name) = self.parts().ok_or_else(|| {
            self.io("name a temporary file beside it")(io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))
        })?;
        remove_stale_temps(&dir, &name);

        let doc = Document {
            version: FORMAT_VERSION,
            refresh_token: token.refresh_token.expose_secret(),
            rotated_at: token.rotated_at,
            account: token.account.as_deref(),
            public_client: token.public_client,
        };
        let mut buf = Vec::with_capacity(doc.refresh_token.len() + doc.account.map_or(0, str::len) + 128);
        let encoded = serde_json::to_writer(&mut buf, &doc);
        buf.push(b'\n');
        let result = match encoded {
            Ok(()) => match seal(&buf) {
                Ok(sealed) => self.replace(&dir, &name, &sealed),
                Err(e) => Err(self.io("protect the token with DPAPI")(e)),
            },
            Err(_) => Err(self.io("encode the token")(io::Error::other("JSON serialization failed"))),
        };
        buf.zeroize();
        result
    }

    fn replace(&self, dir: &Path, name: &OsString, contents: &[u8]) -> Result<(), StoreError> {
        let (tmp, file) = self.create_temp(dir, name)?;
        let committed = atomic_file::commit(file, &tmp, &self.path, contents, Some(0o600));
        if let Some(tmp_name) = tmp.file_name() {
            in_progress(|set| set.remove(tmp_name));
        }
        committed.map_err(|e| {
            let op = match e.step {
                Step::Create => "create a temporary file beside it",
                Step::Chmod => "restrict the temporary file to mode 0600",
                Step::Write => "write the temporary file",
                Step::Sync => "sync the temporary file",
                Step::Rename => "rename the temporary file over it",
                Step::SyncDir => "sync its directory",
            };
            self.io(op)(e.source)
        })
    }

    /// Creates a new temporary file beside the target, mode 0600 on unix,
    /// and registers it as in progress.
    fn create_temp(&self, dir: &Path, name: &OsString) -> Result<(PathBuf, File), StoreError> {
        let pid = std::process::id();
        let mut attempt = 0;
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut tmp_name = temp_prefix(name);
            tmp_name.push(format!("{pid}-{n}"));
            let tmp = dir.join(&tmp_name);
            in_progress(|set| set.insert(tmp_name.clone()));
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match failpoint("create").and_then(|()| options.open(&tmp)) {
                Ok(file) => return Ok((tmp, file)),
                Err(e) => {
                    in_progress(|set| set.remove(&tmp_name));
                    attempt += 1;
                    if e.kind() != io::ErrorKind::AlreadyExists || attempt >= CREATE_ATTEMPTS {
                        return Err(self.io("create a temporary file beside it")(e));
                    }
                }
            }
        }
    }
}

/// What is written for the document `doc`: on Windows, `doc` protected with
/// DPAPI for this machine; elsewhere `doc` itself.
fn seal(doc: &[u8]) -> io::Result<Cow<'_, [u8]>> {
    #[cfg(windows)]
    {
        win_ffi::dpapi::protect(doc).map(Cow::Owned)
    }
    #[cfg(not(windows))]
    Ok(Cow::Borrowed(doc))
}

/// `.<file name>.tmp-`: every temporary file of this store starts with it.
fn temp_prefix(name: &OsString) -> OsString {
    let mut p = OsString::from(".");
    p.push(name);
    p.push(".tmp-");
    p
}

/// Removes temporary files of this store that no save in progress owns:
/// not one of this process's saves in progress, and either this process's
/// own leftover (same pid, e.g. a container restarted as pid 1), or of a
/// process that is gone, or older than [`STALE_AFTER`]. Best effort: a file
/// that cannot be removed now is retried next time.
fn remove_stale_temps(dir: &Path, name: &OsString) {
    let prefix = temp_prefix(name);
    let Some(prefix) = prefix.to_str() else { return };
    let Ok(entries) = fs::read_dir(dir) else { return };
    let me = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if !meta.is_file() || in_progress(|set| set.contains(&file_name)) {
            continue;
        }
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > STALE_AFTER);
        let stale = match pid {
            Some(pid) if pid == me => true,
            Some(pid) => old || !process_alive(pid),
            None => old,
        };
        if stale {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Whether a process with this pid exists, where that can be told without
/// `unsafe` (Linux `/proc`); elsewhere a foreign temporary file counts as stale.
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-progress set is process-wide: tests that save, or inspect it,
    /// run one at a time so none sees another's save in flight.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    const SECRET: &str = "0.AXsecret-refresh-token-VALUE";

    fn token(value: &str, rotated_at: i64) -> StoredToken {
        StoredToken {
            refresh_token: SecretString::from(value),
            rotated_at,
            account: Some("ece@contoso.example".to_string()),
            public_client: false,
        }
    }

    fn store_in(dir: &tempfile::TempDir) -> TokenStore {
        TokenStore::new(dir.path().join("token.json"))
    }

    fn temps(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.retain(|n| n.starts_with(".token.json.tmp-"));
        names.sort();
        names
    }

    fn with_failpoint<R>(step: &'static str, f: impl FnOnce() -> R) -> R {
        FAIL_AT.with(|c| c.set(Some(step)));
        let r = f();
        FAIL_AT.with(|c| c.set(None));
        r
    }

    #[test]
    fn round_trip() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        store.save(&token(SECRET, 1_700_000_000)).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), SECRET);
        assert_eq!(loaded.rotated_at, 1_700_000_000);
        assert_eq!(loaded.account.as_deref(), Some("ece@contoso.example"));

        let doc: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["refresh_token"], SECRET);

        // The public-client mark is written only when set, and read back.
        let public = StoredToken {
            public_client: true,
            ..token("public", 6)
        };
        store.save(&public).unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        assert_eq!(doc["public_client"], true);
        assert!(store.load().unwrap().unwrap().public_client);
        store.save(&token("confidential", 7)).unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        assert!(doc.get("public_client").is_none(), "{doc}");
        assert!(!store.load().unwrap().unwrap().public_client);

        let no_account = StoredToken {
            account: None,
            ..token("second", 5)
        };
        store.save(&no_account).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), "second");
        assert_eq!(loaded.account, None);
        assert!(temps(dir.path()).is_empty());
    }

    #[test]
    fn missing_file_is_none() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        assert!(store_in(&dir).load().unwrap().is_none());
    }

    #[test]
    fn corrupt_file_is_corrupt_and_not_echoed() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let cases = [
            SECRET.to_string(),
            format!("{{\"version\":1,\"refresh_token\":\"{SECRET}"),
            format!("{{\"version\":1,\"refresh_token\":[\"{SECRET}\"],\"rotated_at\":1}}"),
            format!("{{\"version\":\"{SECRET}\",\"refresh_token\":\"x\",\"rotated_at\":1}}"),
            format!("{{\"version\":2,\"refresh_token\":\"{SECRET}\",\"rotated_at\":1}}"),
            format!("{{\"version\":1,\"refresh_token\":\"{SECRET}\",\"rotated_at\":\"{SECRET}\"}}"),
            format!("{{\"version\":1,\"refresh_token\":\"{SECRET}\",\"rotated_at\":1,\"account\":[\"{SECRET}\"]}}"),
            format!("{{\"version\":1,\"refresh_token\":\"\",\"rotated_at\":1,\"note\":\"{SECRET}\"}}"),
            format!("{{\"version\":1,\"refresh_token\":\"{SECRET}\",\"rotated_at\":1,\"public_client\":\"yes\"}}"),
            format!("[\"{SECRET}\"]"),
            String::new(),
            "x".repeat(MAX_FILE_BYTES as usize + 1),
        ];
        for case in &cases {
            fs::write(store.path(), case).unwrap();
            let err = store.load().unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            assert_eq!(err.reason(), Reason::TokenStoreUnwritable);
            assert_eq!(err.path(), store.path());
            let text = format!("{err} {err:?}");
            assert!(!text.contains("secret"), "{text}");
            assert!(text.contains(&store.path().display().to_string()), "{text}");
            let failure = Failure::from(err);
            assert_eq!(failure.reason, Reason::TokenStoreUnwritable);
            assert!(!failure.detail.contains("secret"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_mode_0600_even_over_a_wider_file() {
        let _serial = serial();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        fs::write(store.path(), "{}").unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&token(SECRET, 1)).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }

    #[test]
    fn unwritable_location_fails_with_token_store_unwritable() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        // Root ignores directory permissions, so make the parent a regular
        // file: every create beneath it fails (ENOTDIR).
        let not_a_dir = dir.path().join("state");
        fs::write(&not_a_dir, "a file").unwrap();
        let store = TokenStore::new(not_a_dir.join("token.json"));
        let err = store.save(&token(SECRET, 1)).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Io {
                    op: "create a temporary file beside it",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.reason(), Reason::TokenStoreUnwritable);
        let text = err.to_string();
        assert!(text.contains("token.json") && text.contains("create a temporary file"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        assert_eq!(fs::read_to_string(&not_a_dir).unwrap(), "a file");

        let err = store.load().unwrap_err();
        assert_eq!(err.reason(), Reason::TokenStoreUnwritable);
    }

    #[test]
    fn a_failed_step_keeps_the_old_token_and_leaves_no_temp_file() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        store.save(&token("old-token", 1)).unwrap();
        for step in ["create", "chmod", "write", "sync", "rename"] {
            let err = with_failpoint(step, || store.save(&token("new-token", 2))).unwrap_err();
            assert_eq!(err.reason(), Reason::TokenStoreUnwritable, "{step}");
            assert!(!err.to_string().contains("new-token"), "{err}");
            let loaded = store.load().unwrap().unwrap();
            assert_eq!(loaded.refresh_token.expose_secret(), "old-token", "{step}");
            assert_eq!(loaded.rotated_at, 1);
            assert!(temps(dir.path()).is_empty(), "{step}: {:?}", temps(dir.path()));
        }
        assert!(in_progress(|set| set
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".token.json.tmp-"))));
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_directory_sync_reports_but_the_new_token_is_in_place() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        store.save(&token("old-token", 1)).unwrap();
        let err = with_failpoint("sync_dir", || store.save(&token("new-token", 2))).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Io {
                    op: "sync its directory",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(store.load().unwrap().unwrap().refresh_token.expose_secret(), "new-token");
        assert!(temps(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn read_only_directory_keeps_the_old_token_when_unprivileged() {
        let _serial = serial();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ro");
        fs::create_dir(&sub).unwrap();
        let store = TokenStore::new(sub.join("token.json"));
        store.save(&token("old-token", 1)).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o555)).unwrap();
        // Root (CAP_DAC_OVERRIDE) writes anyway: then there is nothing to test here.
        let privileged = File::create(sub.join("probe")).is_ok();
        if !privileged {
            let err = store.save(&token("new-token", 2)).unwrap_err();
            assert_eq!(err.reason(), Reason::TokenStoreUnwritable);
            assert_eq!(store.load().unwrap().unwrap().refresh_token.expose_secret(), "old-token");
        }
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn debug_does_not_reveal_the_token() {
        let _serial = serial();
        let t = token(SECRET, 1);
        let text = format!("{t:?} {t:#?}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
    }

    #[test]
    fn stale_temp_files_are_removed_by_load_and_save() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let me = std::process::id();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let make = |name: &str, mtime: Option<SystemTime>| {
            let f = File::create(dir.path().join(name)).unwrap();
            if let Some(t) = mtime {
                f.set_modified(t).unwrap();
            }
        };
        let dead = ".token.json.tmp-999999999-0"; // above any pid_max
        let own_leftover = format!(".token.json.tmp-{me}-987654");
        make(dead, None);
        make(&own_leftover, None);
        make(".token.json.tmp-unparsable", Some(old));
        make(".token.json.tmp-fresh-unparsable", None);
        make(".other.json.tmp-999999999-0", None);
        make("token.json.bak", None);
        let pid1_alive = cfg!(target_os = "linux") && me != 1;
        if pid1_alive {
            // pid 1 is alive: its fresh temp may be a save in progress.
            make(".token.json.tmp-1-0", None);
            make(".token.json.tmp-1-1", Some(old));
        }

        assert!(store.load().unwrap().is_none());
        let mut expected = vec![".token.json.tmp-fresh-unparsable".to_string()];
        if pid1_alive {
            expected.insert(0, ".token.json.tmp-1-0".to_string());
        }
        assert_eq!(temps(dir.path()), expected);
        assert!(dir.path().join(".other.json.tmp-999999999-0").exists());
        assert!(dir.path().join("token.json.bak").exists());

        make(dead, None);
        store.save(&token(SECRET, 1)).unwrap();
        assert_eq!(temps(dir.path()), expected);
    }

    #[test]
    fn a_save_in_progress_in_this_process_is_not_stale() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let name = OsString::from(format!(".token.json.tmp-{}-424242", std::process::id()));
        let ours = dir.path().join(&name);
        File::create(&ours).unwrap();
        in_progress(|set| set.insert(name.clone()));
        assert!(store.load().unwrap().is_none());
        assert!(ours.exists());
        in_progress(|set| set.remove(&name));
        assert!(store.load().unwrap().is_none());
        assert!(!ours.exists());
    }
}
