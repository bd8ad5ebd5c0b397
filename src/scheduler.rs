//! Runs every check on its own schedule: one task per check, first run at
//! start, then every `interval` with jitter so checks spread out; one run of
//! a check at a time; each result handed to [`Metrics`]. A reload swaps the
//! set of checks without touching the unchanged ones. Stops when the
//! shutdown token is cancelled, abandoning runs in flight.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use std::collections::HashMap;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::checks::{CheckMeta, ScheduledCheck, run_check};
use crate::config::CheckConfig;
use crate::metrics::Metrics;
use crate::observation::Observation;

/// The most a run may be moved from its nominal time, as a fraction of the interval.
const JITTER_FRACTION: f64 = 0.1;
/// ...and in absolute terms, so long intervals stay predictable.
const MAX_JITTER: Duration = Duration::from_secs(5);
/// Runs in flight at once, over all checks. Every check runs at start, so ten
/// thousand checks would otherwise open ten thousand connections together
/// (a burst Exchange Online throttles, and that sets the agent's peak memory
/// for good). Against Office 365 a run takes well under a second, so this
/// carries tens of thousands of checks a minute; a check waiting for a slot
/// runs late, which `ece_o365_check_last_run_timestamp_seconds` shows.
pub const MAX_IN_FLIGHT: usize = 256;

/// The running checks, one task each. A reload hands it the new set with
/// [`Scheduler::apply`].
pub struct Scheduler {
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    running: HashMap<String, Running>,
    in_flight: Arc<Semaphore>,
}

struct Running {
    /// Shared with the configuration it came from.
    config: Arc<CheckConfig>,
    meta: Arc<CheckMeta>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub kept: usize,
    pub started: usize,
    pub stopped: usize,
}

impl Scheduler {
    pub fn new(metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        Scheduler {
            metrics,
            shutdown,
            running: HashMap::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// How many checks run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Makes exactly `checks` run. A check whose configuration is unchanged
    /// keeps its task, schedule and series; a changed one is restarted; a
    /// removed one is stopped and its series disappear.
    pub async fn apply(&mut self, checks: Vec<(Arc<CheckConfig>, ScheduledCheck)>) -> Applied {
        let mut applied = Applied::default();
        let mut next = HashMap::with_capacity(checks.len());
        for (config, check) in checks {
            if let Some(old) = self.running.remove(&config.name) {
                if old.config == config {
                    applied.kept += 1;
                    next.insert(config.name.clone(), old);
                    continue;
                }
                self.retire(old).await;
                applied.stopped += 1;
            }
            applied.started += 1;
            next.insert(config.name.clone(), self.spawn(config, check));
        }
        for (_, old) in std::mem::take(&mut self.running) {
            self.retire(old).await;
            applied.stopped += 1;
        }
        self.running = next;
        applied
    }

    fn spawn(&self, config: Arc<CheckConfig>, check: ScheduledCheck) -> Running {
        self.metrics.declare(&check.meta);
        let stop = self.shutdown.child_token();
        let meta = check.meta.clone();
        let task = tokio::spawn(run_one(check, self.metrics.clone(), self.in_flight.clone(), stop.clone()));
        Running { config, meta, stop, task }
    }

    /// Stops a check and, once its task is gone (so no late result can
    /// bring them back), drops its series.
    async fn retire(&self, old: Running) {
        old.stop.cancel();
        if let Err(e) = old.task.await
            && e.is_panic()
        {
            tracing::error!(check = %old.meta.name, error = %e, "a check task panicked");
        }
        self.metrics.forget(&old.meta);
    }

    /// Stops every check and waits for the tasks to end.
    pub async fn stop(self) {
        for (_, r) in self.running {
            r.stop.cancel();
            let _ = r.task.await;
        }
    }
}

async fn run_one(check: ScheduledCheck, metrics: Arc<Metrics>, in_flight: Arc<Semaphore>, shutdown: CancellationToken) {
    let mut was_failing = false;
    loop {
        // The check's timeout starts when it holds a slot, not while it waits for one.
        // Boxed: a run's state (probe, timeout, span) is large, and inline
        // it would be part of the task's size while the check sleeps too,
        // for every configured check (docs/development.md, Performance, has the figures).
        let run = Box::pin(async {
            let _slot = in_flight.acquire().await;
            run_check(&check).await
        });
        let obs = tokio::select! {
            obs = run => obs,
            () = shutdown.cancelled() => return,
        };
        was_failing = log_transition(&check, &obs, was_failing);
        metrics.observe(&check.meta, obs);
        tokio::select! {
            () = tokio::time::sleep(jittered(check.meta.interval)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One line per failed run; one line when a check recovers.
fn log_transition(check: &ScheduledCheck, obs: &Observation, was_failing: bool) -> bool {
    let m = &check.meta;
    match &obs.outcome {
        Err(f) => {
            let phase = obs.failed_phase.map(|p| p.as_str()).unwrap_or("none");
            tracing::warn!(check = %m.name, kind = %m.kind, target = %m.target, phase, reason = %f.reason, detail = %f.detail, "check failed");
            true
        }
        Ok(()) => {
            if was_failing {
                tracing::info!(check = %m.name, kind = %m.kind, target = %m.target, "check recovered");
            } else {
                tracing::debug!(check = %m.name, duration_ms = obs.duration.as_millis() as u64, "check succeeded");
            }
            false
        }
    }
}

/// `interval` moved by up to ±10% (at most ±5 s).
pub fn jittered(interval: Duration) -> Duration {
    let spread = interval.mul_f64(JITTER_FRACTION).min(MAX_JITTER).as_secs_f64();
    if spread <= 0.0 {
        return interval;
    }
    let offset = rand::rng().random_range(-spread..=spread);
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every check runs at start; no more than `MAX_IN_FLIGHT` of them at once.
    ///
    /// Paused time makes it exact: the runtime advances the clock only when
    /// every task is parked, so after the test's own sleep each check task
    /// either holds a slot (and waits on the gate) or waits for one.
    #[tokio::test(start_paused = true)]
    async fn runs_in_flight_are_bounded() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::checks::{BoxFuture, Check};
        use crate::observation::{Failure, Probe};

        #[derive(Default)]
        struct Counts {
            running: AtomicUsize,
            most: AtomicUsize,
            started: AtomicUsize,
        }
        /// A run that holds its slot until the test opens the gate.
        struct Held {
            counts: Arc<Counts>,
            gate: Arc<Semaphore>,
        }
        impl Check for Held {
            fn run<'a>(&'a self, _probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
                Box::pin(async move {
                    self.counts.started.fetch_add(1, Ordering::SeqCst);
                    let now = self.counts.running.fetch_add(1, Ordering::SeqCst) + 1;
                    self.counts.most.fetch_max(now, Ordering::SeqCst);
                    let _open = self.gate.acquire().await;
                    self.counts.running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
            }
        }

        let total = MAX_IN_FLIGHT + 64;
        let mut yaml = String::from("global: { interval: 1h, timeout: 30m }\nchecks:\n");
        for i in 0..total {
            yaml.push_str(&format!("  - {{ name: c{i}, kind: tcp, target: \"127.0.0.1:9\" }}\n"));
        }
        let cfg = crate::config::Config::from_yaml(std::path::Path::new("x.yaml"), &yaml).unwrap();
        let built = crate::checks::build_all(&cfg).unwrap();
        let counts = Arc::new(Counts::default());
        let gate = Arc::new(Semaphore::new(0));
        let held = built.into_iter().map(|c| ScheduledCheck {
            meta: c.meta,
            check: Arc::new(Held {
                counts: counts.clone(),
                gate: gate.clone(),
            }),
        });
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(Arc::new(Metrics::new("1", "r")), shutdown.clone());
        scheduler.apply(cfg.checks.iter().cloned().zip(held).collect()).await;

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            counts.started.load(Ordering::SeqCst),
            MAX_IN_FLIGHT,
            "runs started while every slot is held"
        );
        assert_eq!(counts.running.load(Ordering::SeqCst), MAX_IN_FLIGHT);
        // Open the gate: the held runs end and the waiting ones take their slots.
        gate.add_permits(total);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(counts.started.load(Ordering::SeqCst), total, "every check ran once");
        assert_eq!(counts.running.load(Ordering::SeqCst), 0);
        assert_eq!(counts.most.load(Ordering::SeqCst), MAX_IN_FLIGHT, "most runs in flight at once");
        shutdown.cancel();
        scheduler.stop().await;
    }

    /// A check whose run panics (a bug, not a server) ends each run in
    /// reason `internal`, its series appear, and it keeps its schedule.
    #[tokio::test(start_paused = true)]
    async fn a_panicking_check_is_reported_internal_and_keeps_its_schedule() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::checks::{BoxFuture, Check};
        use crate::observation::{Failure, Probe};
        use crate::reason::{Phase, Reason};

        struct Panics(Arc<AtomicUsize>);
        impl Check for Panics {
            fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
                Box::pin(async move {
                    probe.enter(Phase::Connect);
                    let run = self.0.fetch_add(1, Ordering::SeqCst);
                    panic!("run {run} panicked on purpose");
                })
            }
        }

        let yaml = "global: { interval: 1m, timeout: 10s }\nchecks:\n  - { name: p, kind: tcp, target: \"127.0.0.1:9\" }\n";
        let cfg = crate::config::Config::from_yaml(std::path::Path::new("x.yaml"), yaml).unwrap();
        let built = crate::checks::build_all(&cfg).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let check = ScheduledCheck {
            meta: built[0].meta.clone(),
            check: Arc::new(Panics(runs.clone())),
        };
        let metrics = Arc::new(Metrics::new("1", "r"));
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(metrics.clone(), shutdown.clone());
        scheduler.apply(vec![(cfg.checks[0].clone(), check)]).await;
        // Paused time, auto-advanced while everything sleeps: a run at start,
        // then one per interval of 55 to 65 s (jitter), so exactly four runs
        // fall within 210 s (the fourth at 165 to 195 s, a fifth not before 220 s).
        tokio::time::sleep(Duration::from_secs(210)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 4, "runs in 210 s");
        let runs = metrics.last_runs();
        let last: Vec<_> = runs.iter().map(|(_, observation)| observation).collect();
        assert_eq!(last.len(), 1);
        let failure = last[0].outcome.clone().unwrap_err();
        assert_eq!(failure.reason, Reason::Internal);
        assert_eq!(last[0].failed_phase, Some(Phase::Connect));
        assert!(failure.detail.contains("panicked on purpose"), "{}", failure.detail);
        assert!(metrics.render().contains(r#"reason="internal""#));
        shutdown.cancel();
        scheduler.stop().await;
    }

    /// What each configured check costs while it sleeps: its task's future.
    /// A run's state is boxed for the run's duration only; inline, it made
    /// the future much larger, in debug and release builds alike (docs/development.md,
    /// Performance, has the figures).
    #[tokio::test]
    async fn an_idle_check_task_stays_small() {
        let yaml = "checks:\n  - { name: a, kind: smtp, target: \"127.0.0.1:9\", tls: starttls }\n";
        let cfg = crate::config::Config::from_yaml(std::path::Path::new("x.yaml"), yaml).unwrap();
        let built = crate::checks::build_all(&cfg).unwrap();
        let metrics = Arc::new(Metrics::new("1", "r"));
        let task = run_one(built[0].clone(), metrics, Arc::new(Semaphore::new(1)), CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        assert!(size <= 768, "the idle task's future is {size} bytes");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(60));
            assert!(d >= Duration::from_secs(55) && d <= Duration::from_secs(65), "{d:?}");
            let d = jittered(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(9) && d <= Duration::from_secs(11), "{d:?}");
        }
    }
}
