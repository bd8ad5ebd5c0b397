//! Replacing a file atomically and durably: the contents go into a temporary
//! file in the target's directory, which is (optionally) given a mode,
//! written in full, `fsync`ed and renamed over the target; then the directory
//! is `fsync`ed so the rename survives a power loss. Until the rename the
//! previous file is untouched, so a crash or an error at any step leaves the
//! old contents or the new ones, never an empty or partial file; on an error
//! before the rename the temporary file is removed.
//!
//! It owns those steps and the failure injection their unit tests use. It
//! must not name temporary files for a caller that has its own scheme (the
//! token store creates its own and hands it over), must not log, and must not
//! put the contents into an error: errors say which step failed only.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A step of [`commit`], for the caller's error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file ([`write()`] only).
    Create,
    /// Setting the temporary file's mode (unix only).
    Chmod,
    Write,
    /// `fsync` of the temporary file.
    Sync,
    Rename,
    /// `fsync` of the directory, after the rename: the new contents are in
    /// place but may not survive a power loss.
    SyncDir,
}

/// The step that failed and why.
#[derive(Debug, thiserror::Error)]
#[error("{step:?}: {source}")]
pub struct Error {
    pub step: Step,
    #[source]
    pub source: io::Error,
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        e.source
    }
}

/// The directory holding `path`: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Replaces `path` with `contents` through the temporary file
/// `.<name>.<pid>.tmp` beside it (created or truncated with the default
/// mode). Its name ends in `.tmp`, so a textfile collector that reads only
/// `*.prom` never reads it.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let dir = parent_dir(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = failpoint("create").and_then(|()| File::create(&tmp)).map_err(|source| Error {
        step: Step::Create,
        source,
    })?;
    commit(file, &tmp, path, contents, None)
}

/// Fills `file`, a freshly created temporary file at `tmp` in `path`'s
/// directory: sets `mode` (unix; whatever the umask), writes `contents`,
/// syncs and closes it, renames it over `path` and syncs the directory. On
/// an error before the rename, `tmp` is removed.
pub fn commit(file: File, tmp: &Path, path: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), Error> {
    let filled = fill(file, contents, mode).and_then(|()| {
        failpoint("rename").and_then(|()| fs::rename(tmp, path)).map_err(|source| Error {
            step: Step::Rename,
            source,
        })
    });
    if filled.is_err() {
        let _ = fs::remove_file(tmp);
    }
    filled?;
    sync_dir(&parent_dir(path)).map_err(|source| Error {
        step: Step::SyncDir,
        source,
    })
}

fn fill(mut file: File, contents: &[u8], mode: Option<u32>) -> Result<(), Error> {
    let at = |step| move |source| Error { step, source };
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        failpoint("chmod")
            .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
            .map_err(at(Step::Chmod))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    failpoint("write")
        .and_then(|()| file.write_all(contents))
        .map_err(at(Step::Write))?;
    failpoint("sync").and_then(|()| file.sync_all()).map_err(at(Step::Sync))?;
    drop(file);
    Ok(())
}

/// Makes a rename in `dir` durable. Filesystems that cannot sync a directory
/// (`EINVAL`, unsupported) are accepted: the rename itself has happened.
/// Not needed (and not possible through `std`) on Windows.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        failpoint("sync_dir")?;
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
thread_local! {
    /// The step to fail on this thread, for the unit tests (here and in the
    /// token store): `create`, `chmod`, `write`, `sync`, `rename`, `sync_dir`.
    pub(crate) static FAIL_AT: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Fails the named step when a unit test asks for it; a no-op otherwise.
pub(crate) fn failpoint(step: &'static str) -> io::Result<()> {
    #[cfg(test)]
    if FAIL_AT.with(|f| f.get()) == Some(step) {
        return Err(io::Error::other(format!("injected failure at {step}")));
    }
    let _ = step;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_in_full_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.prom");
        fs::write(&path, "old contents that are longer than the new ones\n").unwrap();
        write(&path, b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(entries(dir.path()), ["out.prom"]);
    }

    #[cfg(unix)]
    #[test]
    fn commit_applies_the_mode_whatever_the_file_was_created_with() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        let tmp = dir.path().join(".secret.json.tmp-1");
        let file = File::create(&tmp).unwrap();
        file.set_permissions(fs::Permissions::from_mode(0o644)).unwrap();
        commit(file, &tmp, &path, b"{}", Some(0o600)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(entries(dir.path()), ["secret.json"]);
    }

    #[test]
    fn a_failed_step_before_the_rename_keeps_the_old_file_and_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.prom");
        fs::write(&path, "old\n").unwrap();
        let steps: &[(&str, Step)] = if cfg!(unix) {
            &[
                ("chmod", Step::Chmod),
                ("write", Step::Write),
                ("sync", Step::Sync),
                ("rename", Step::Rename),
            ]
        } else {
            &[("write", Step::Write), ("sync", Step::Sync), ("rename", Step::Rename)]
        };
        for &(name, step) in steps {
            let tmp = dir.path().join(".out.prom.tmp-x");
            let file = File::create(&tmp).unwrap();
            FAIL_AT.with(|f| f.set(Some(name)));
            let err = commit(file, &tmp, &path, b"new\n", Some(0o600)).unwrap_err();
            FAIL_AT.with(|f| f.set(None));
            assert_eq!(err.step, step);
            assert_eq!(fs::read(&path).unwrap(), b"old\n", "{name}");
            assert_eq!(entries(dir.path()), ["out.prom"], "{name}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_directory_sync_is_reported_after_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.prom");
        FAIL_AT.with(|f| f.set(Some("sync_dir")));
        let err = write(&path, b"new\n").unwrap_err();
        FAIL_AT.with(|f| f.set(None));
        assert_eq!(err.step, Step::SyncDir);
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(entries(dir.path()), ["out.prom"]);
    }
}
