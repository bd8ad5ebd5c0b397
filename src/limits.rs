//! Process resource limits at start: the soft limit on open files
//! (`RLIMIT_NOFILE`) is raised to the hard limit, as Go programs such as
//! blackbox_exporter do, so that the checks' sockets, the web endpoint's
//! connections and the token stores share more than the 1,024 descriptors
//! systemd and most shells give by default. Running out of descriptors would
//! make every check fail as if the network were down.
//!
//! It owns only that one call (Unix; elsewhere there is nothing to raise).
//! It never lowers a limit, never touches the hard limit and does not log:
//! the caller reports what [`raise_nofile_limit`] returns.

/// The open-file limit before and after [`raise_nofile_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now (equal to `before` when it was already the hard limit).
    pub after: u64,
    /// The hard limit, which is never changed.
    pub hard: u64,
}

impl NofileLimit {
    pub fn raised(&self) -> bool {
        self.after > self.before
    }
}

/// Why the limit could not be read or raised; the process keeps running with
/// what it has.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("cannot read the open-file limit (RLIMIT_NOFILE): {0}")]
    Read(std::io::Error),
    #[error("cannot raise the open-file limit (RLIMIT_NOFILE) from {soft} to the hard limit {hard}: {source}")]
    Raise { soft: u64, hard: u64, source: std::io::Error },
}

/// Raises the soft open-file limit to the hard limit. `Ok(None)` where the
/// platform has no such limit (Windows).
#[cfg(unix)]
pub fn raise_nofile_limit() -> Result<Option<NofileLimit>, LimitError> {
    use rlimit::Resource;

    let (soft, hard) = Resource::NOFILE.get().map_err(LimitError::Read)?;
    if soft >= hard {
        return Ok(Some(NofileLimit {
            before: soft,
            after: soft,
            hard,
        }));
    }
    // Stays within the hard limit, and within `kern.maxfilesperproc` on the BSDs.
    let after = rlimit::increase_nofile_limit(hard).map_err(|source| LimitError::Raise { soft, hard, source })?;
    Ok(Some(NofileLimit { before: soft, after, hard }))
}

/// Raises the soft open-file limit to the hard limit. `Ok(None)` where the
/// platform has no such limit (Windows).
#[cfg(not(unix))]
pub fn raise_nofile_limit() -> Result<Option<NofileLimit>, LimitError> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        // A process may always raise its soft limit up to its hard limit.
        let limit = raise_nofile_limit().unwrap().unwrap();
        assert!(limit.after >= limit.before, "{limit:?}");
        assert!(limit.after <= limit.hard, "{limit:?}");
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!((soft, hard), (limit.after, limit.hard));
        // Idempotent: a second call finds nothing left to raise.
        let again = raise_nofile_limit().unwrap().unwrap();
        assert!(!again.raised(), "{again:?}");
    }
}
