//! The running agent's configuration lifecycle: it starts the checks of a
//! configuration and, on reload (SIGHUP or `POST /-/reload`), loads the file
//! again and swaps the set of checks. A file that does not load changes
//! nothing: the last good configuration keeps running and
//! `ece_o365_config_last_reload_successful` drops to 0. Token providers of
//! unchanged mailboxes carry over, so a reload does not cost a token; a
//! successful reload does let a mailbox whose token failed definitively ask
//! the token endpoint again at once.
//!
//! It does not listen for signals or requests itself: `main` wires those to
//! [`Agent::reload`] through a [`ReloadRequest`] channel. It writes what runs
//! into the [`RunningState`] the web endpoint reads, and knows nothing of HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checks::{Providers, build_with};
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::scheduler::{Applied, Scheduler};
use crate::state::{ReloadRequest, RunningState};

pub struct Agent {
    file: PathBuf,
    scheduler: Scheduler,
    providers: Providers,
    metrics: Arc<Metrics>,
    state: Arc<RunningState>,
}

impl Agent {
    /// Starts the checks of `config`.
    pub async fn start(config: Config, state: Arc<RunningState>, shutdown: CancellationToken) -> Result<Agent, ConfigError> {
        let metrics = state.metrics.clone();
        let mut agent = Agent {
            file: config.file.clone(),
            scheduler: Scheduler::new(metrics.clone(), shutdown),
            providers: Providers::default(),
            metrics,
            state,
        };
        agent.swap_in(config).await?;
        Ok(agent)
    }

    /// Loads the configuration file again and swaps the checks. On error the
    /// running checks are untouched.
    pub async fn reload(&mut self) -> Result<Applied, ConfigError> {
        let loaded = Config::load(&self.file);
        match loaded {
            Ok(config) => self.swap_in(config).await,
            Err(e) => {
                self.metrics.config_loaded(false);
                Err(e)
            }
        }
    }

    async fn swap_in(&mut self, config: Config) -> Result<Applied, ConfigError> {
        let checks = match build_with(&config, &mut self.providers) {
            Ok(checks) => checks,
            Err(e) => {
                self.metrics.config_loaded(false);
                return Err(e);
            }
        };
        // The admin may have fixed what failed definitively (consent, a new token): ask again.
        self.providers.reset_backoff();
        let applied = self.scheduler.apply(config.checks.iter().cloned().zip(checks).collect()).await;
        self.metrics.configured(&config);
        self.metrics.config_loaded(true);
        self.state.running(Arc::new(config), self.scheduler.len());
        Ok(applied)
    }

    /// Answers reload requests until `shutdown`, then stops every check.
    pub async fn serve_reloads(mut self, mut requests: mpsc::Receiver<ReloadRequest>, shutdown: CancellationToken) {
        loop {
            let request = tokio::select! {
                r = requests.recv() => r,
                () = shutdown.cancelled() => None,
            };
            let Some(reply) = request else { break };
            let outcome = match self.reload().await {
                Ok(a) => {
                    tracing::info!(kept = a.kept, started = a.started, stopped = a.stopped, "configuration reloaded");
                    Ok(format!(
                        "Reloaded: {} checks kept, {} started, {} stopped.\n",
                        a.kept, a.started, a.stopped
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, "configuration reload failed; the last good configuration keeps running");
                    Err(format!("{e}\n"))
                }
            };
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        }
        self.scheduler.stop().await;
    }
}
