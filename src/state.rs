//! The running agent's state as the web endpoint sees it: the configuration
//! running now, how many checks it has, the last result of every check (read
//! from [`Metrics`], which stores each one once), and where reload requests
//! go. The agent writes it; `http` reads it. `main` wires the two together.
//!
//! It must not know about HTTP, signals or the scheduler, and must not keep a
//! copy of any check's result: readers borrow the one [`Metrics`] keeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::metrics::{LastRuns, Metrics};

/// A request to reload; the sender (if any) gets the outcome as text for the HTTP answer.
pub type ReloadRequest = Option<oneshot::Sender<Result<String, String>>>;
/// Where reload requests are sent.
pub type ReloadSender = mpsc::Sender<ReloadRequest>;

/// What the agent has running, shared with the web endpoint.
pub struct RunningState {
    pub metrics: Arc<Metrics>,
    /// How many checks are configured (for readiness); updated on reload.
    configured: AtomicUsize,
    /// Where `POST /-/reload` sends its request; None disables the endpoint.
    pub reload: Option<ReloadSender>,
    /// The configuration running now, for the status page's assessment.
    config: RwLock<Option<Arc<Config>>>,
}

impl RunningState {
    pub fn new(metrics: Arc<Metrics>, reload: Option<ReloadSender>) -> Self {
        RunningState {
            metrics,
            configured: AtomicUsize::new(0),
            reload,
            config: RwLock::new(None),
        }
    }

    /// Records the configuration that now runs and how many checks it has.
    pub fn running(&self, config: Arc<Config>, checks: usize) {
        self.configured.store(checks, Ordering::SeqCst);
        if let Ok(mut running) = self.config.write() {
            *running = Some(config);
        }
    }

    /// How many checks are configured.
    pub fn configured(&self) -> usize {
        self.configured.load(Ordering::SeqCst)
    }

    /// The configuration running now (none before the first start).
    pub fn config(&self) -> Option<Arc<Config>> {
        self.config.read().ok().and_then(|c| c.clone())
    }

    /// The last run of every check, borrowed from where [`Metrics`] keeps it.
    pub fn last_runs(&self) -> LastRuns {
        self.metrics.last_runs()
    }

    /// How many checks have run at least once.
    pub fn ran(&self) -> usize {
        self.metrics.ran()
    }
}
