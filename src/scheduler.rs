//! Runs every check on its own schedule: first run at start, then every
//! `interval` (with jitter, so checks spread out) after the previous run
//! ended; one run of a check at a time, at most [`MAX_IN_FLIGHT`] runs over
//! all checks; each result handed to [`Metrics`]. A reload swaps the set of
//! checks without touching the unchanged ones. Stops when the shutdown token
//! is cancelled, abandoning runs in flight.
//!
//! One task, the driver, owns every check's schedule: a sleeping check is an
//! entry in a map and a deadline in one heap, and only a check that runs has
//! a task of its own. Ten thousand checks are ten thousand small entries, not
//! ten thousand tasks each with a timer and a cancellation token
//! (docs/scaling.md, Memory). It never runs a check itself and never
//! touches the web endpoint.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::checks::{ScheduledCheck, run_check};
use crate::config::CheckConfig;
use crate::metrics::Metrics;
use crate::observation::{Failure, Observation, Probe};
use crate::reason::Reason;

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

/// The handle to the driver task that runs the checks. A reload hands it the
/// new set with [`Scheduler::apply`].
pub struct Scheduler {
    commands: mpsc::Sender<Apply>,
    driver: JoinHandle<()>,
    len: usize,
}

/// A new set of checks, and where to say what changed.
struct Apply {
    checks: Vec<(Arc<CheckConfig>, ScheduledCheck)>,
    done: oneshot::Sender<Applied>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub kept: usize,
    pub started: usize,
    pub stopped: usize,
}

impl Scheduler {
    /// Starts the driver, with no checks yet. Must be called within a Tokio runtime.
    pub fn new(metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        let (commands, received) = mpsc::channel(1);
        let driver = Driver {
            metrics,
            checks: HashMap::new(),
            due: BinaryHeap::new(),
            ready: VecDeque::new(),
            runs: JoinSet::new(),
            running: HashMap::new(),
            next_id: 0,
        };
        let driver = tokio::spawn(driver.drive(received, shutdown));
        Scheduler { commands, driver, len: 0 }
    }

    /// How many checks run.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes exactly `checks` run. A check whose configuration is unchanged
    /// keeps its schedule and series; a changed one is restarted; a removed
    /// one is stopped and its series disappear. After shutdown it changes
    /// nothing.
    pub async fn apply(&mut self, checks: Vec<(Arc<CheckConfig>, ScheduledCheck)>) -> Applied {
        let len = checks.len();
        let (done, applied) = oneshot::channel();
        if self.commands.send(Apply { checks, done }).await.is_err() {
            return Applied::default();
        }
        match applied.await {
            Ok(applied) => {
                self.len = len;
                applied
            }
            Err(_) => Applied::default(),
        }
    }

    /// Stops every check and waits for the driver to end.
    pub async fn stop(self) {
        drop(self.commands);
        if let Err(e) = self.driver.await
            && e.is_panic()
        {
            tracing::error!(error = %e, "the scheduler panicked");
        }
    }
}

/// Identifies one configured check for as long as its configuration is
/// unchanged; a changed check gets a new one, so a result of the old run
/// cannot land on the new check.
type CheckId = u64;

/// A configured check between its runs.
struct Entry {
    /// Shared with the configuration it came from; compared on reload.
    config: Arc<CheckConfig>,
    check: ScheduledCheck,
    /// Its run in flight, if any.
    run: Option<AbortHandle>,
    /// Whether its last run failed, for the "recovered" log line.
    failing: bool,
}

struct Driver {
    metrics: Arc<Metrics>,
    checks: HashMap<CheckId, Entry>,
    /// When each sleeping check runs next, earliest first. An id whose check
    /// was removed is skipped when it comes up.
    due: BinaryHeap<Reverse<(Instant, CheckId)>>,
    /// Checks whose time has come, waiting for a slot.
    ready: VecDeque<CheckId>,
    /// The runs in flight, at most [`MAX_IN_FLIGHT`].
    runs: JoinSet<Observation>,
    running: HashMap<tokio::task::Id, CheckId>,
    next_id: CheckId,
}

impl Driver {
    async fn drive(mut self, mut commands: mpsc::Receiver<Apply>, shutdown: CancellationToken) {
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        loop {
            self.start_due_runs();
            let next = self.due.peek().map(|Reverse((at, _))| *at);
            if let Some(at) = next {
                timer.as_mut().reset(at);
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                command = commands.recv() => match command {
                    Some(Apply { checks, done }) => {
                        let _ = done.send(self.apply(checks));
                    }
                    None => break,
                },
                Some(finished) = self.runs.join_next_with_id() => self.finished(finished),
                () = &mut timer, if next.is_some() => {}
            }
        }
        // Abandons the runs in flight and waits for them to be dropped.
        self.runs.shutdown().await;
    }

    /// Moves the checks whose time has come to the ready queue and starts
    /// as many of them as there are free slots.
    fn start_due_runs(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = self.due.peek().copied()
            && at <= now
        {
            self.due.pop();
            if self.checks.contains_key(&id) {
                self.ready.push_back(id);
            }
        }
        while self.runs.len() < MAX_IN_FLIGHT
            && let Some(id) = self.ready.pop_front()
        {
            let Some(entry) = self.checks.get_mut(&id) else { continue };
            let check = entry.check.clone();
            // The check's timeout starts here, when it holds a slot, not while it waited for one.
            let run = self.runs.spawn(async move { run_check(&check).await });
            self.running.insert(run.id(), id);
            entry.run = Some(run);
        }
    }

    /// A run ended: its result goes to the metrics and the check sleeps
    /// until its next run. A run of a check removed meanwhile was aborted
    /// and its result, if it came first, is dropped.
    fn finished(&mut self, finished: Result<(tokio::task::Id, Observation), tokio::task::JoinError>) {
        let (task, observation) = match finished {
            Ok((task, observation)) => (task, Some(observation)),
            Err(e) => (e.id(), e.is_panic().then(|| panicked(&e))),
        };
        let Some(id) = self.running.remove(&task) else { return };
        let Some(entry) = self.checks.get_mut(&id) else { return };
        entry.run = None;
        let Some(observation) = observation else { return };
        entry.failing = log_transition(&entry.check, &observation, entry.failing);
        self.metrics.observe(&entry.check.meta, observation);
        self.due.push(Reverse((next_run(Instant::now(), entry.check.meta.interval), id)));
    }

    fn apply(&mut self, checks: Vec<(Arc<CheckConfig>, ScheduledCheck)>) -> Applied {
        let mut applied = Applied::default();
        let mut current: HashMap<String, CheckId> = self.checks.iter().map(|(id, entry)| (entry.config.name.clone(), *id)).collect();
        let mut kept = HashSet::with_capacity(checks.len());
        let mut new = Vec::new();
        for (config, check) in checks {
            match current.remove(&config.name) {
                Some(id) if self.checks.get(&id).is_some_and(|e| e.config == config) => {
                    applied.kept += 1;
                    kept.insert(id);
                }
                _ => new.push((config, check)),
            }
        }
        // Stop the removed and changed checks first: a changed check's new
        // series have its old name, and must not be forgotten with the old ones.
        let gone: Vec<CheckId> = self.checks.keys().filter(|id| !kept.contains(id)).copied().collect();
        for id in gone {
            if let Some(old) = self.checks.remove(&id) {
                if let Some(run) = old.run {
                    run.abort();
                }
                self.metrics.forget(&old.check.meta);
                applied.stopped += 1;
            }
        }
        let checks = &self.checks;
        self.due.retain(|Reverse((_, id))| checks.contains_key(id));
        self.ready.retain(|id| checks.contains_key(id));
        for (config, check) in new {
            let id = self.next_id;
            self.next_id += 1;
            self.metrics.declare(&check.meta);
            self.checks.insert(
                id,
                Entry {
                    config,
                    check,
                    run: None,
                    failing: false,
                },
            );
            self.ready.push_back(id);
            applied.started += 1;
        }
        applied
    }
}

/// A run whose task panicked outside the check (the check's own panics are
/// caught by [`run_check`]): reported as reason `internal`, like those.
fn panicked(e: &tokio::task::JoinError) -> Observation {
    tracing::error!(error = %e, "a check run's task panicked; reported as reason internal");
    Probe::default().into_observation(
        Err(Failure::new(Reason::Internal, format!("the check's task panicked: {e}"))),
        Duration::ZERO,
    )
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
    Duration::try_from_secs_f64((interval.as_secs_f64() + offset).max(0.0)).unwrap_or(interval)
}

/// When a check that ended a run `now` runs next. An interval too long for
/// the clock means never (about 30 years on, as tokio's own far future): the
/// one task that schedules every check must not panic on a number from the
/// configuration.
fn next_run(now: Instant, interval: Duration) -> Instant {
    const NEVER: Duration = Duration::from_secs(86400 * 365 * 30);
    now.checked_add(jittered(interval).min(NEVER)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    use crate::checks::{BoxFuture, Check};
    use crate::observation::Failure;

    /// The checks of `yaml`, each running the test's `check()` instead of its kind's code.
    fn checks_running(yaml: &str, check: impl Fn() -> Arc<dyn Check>) -> Vec<(Arc<CheckConfig>, ScheduledCheck)> {
        let cfg = crate::config::Config::from_yaml(std::path::Path::new("x.yaml"), yaml).unwrap();
        let built = crate::checks::build_all(&cfg).unwrap();
        let doubles = built.into_iter().map(|c| ScheduledCheck {
            meta: c.meta,
            check: check(),
        });
        cfg.checks.iter().cloned().zip(doubles).collect()
    }

    /// `n` tcp checks named c0, c1, ... under `global`.
    fn tcp_checks(n: usize, global: &str) -> String {
        let mut yaml = format!("global: {global}\nchecks:\n");
        for i in 0..n {
            yaml.push_str(&format!("  - {{ name: c{i}, kind: tcp, target: \"127.0.0.1:9\" }}\n"));
        }
        yaml
    }

    /// Every check runs at start; no more than `MAX_IN_FLIGHT` of them at once.
    ///
    /// Paused time makes it exact: the runtime advances the clock only when
    /// every task is parked, so after the test's own sleep each check task
    /// either holds a slot (and waits on the gate) or waits for one.
    #[tokio::test(start_paused = true)]
    async fn runs_in_flight_are_bounded() {
        use std::sync::atomic::{AtomicUsize, Ordering};

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
        let counts = Arc::new(Counts::default());
        let gate = Arc::new(Semaphore::new(0));
        let held = checks_running(&tcp_checks(total, "{ interval: 1h, timeout: 30m }"), || {
            Arc::new(Held {
                counts: counts.clone(),
                gate: gate.clone(),
            })
        });
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(Arc::new(Metrics::new("1", "r")), shutdown.clone());
        scheduler.apply(held).await;

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

        let runs = Arc::new(AtomicUsize::new(0));
        let panics = checks_running(&tcp_checks(1, "{ interval: 1m, timeout: 10s }"), || Arc::new(Panics(runs.clone())));
        let metrics = Arc::new(Metrics::new("1", "r"));
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(metrics.clone(), shutdown.clone());
        scheduler.apply(panics).await;
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

    /// What each configured check costs while it sleeps: an entry in the
    /// driver's map and heap, not a task. With a thousand sleeping checks
    /// the runtime has one task alive, the driver.
    #[tokio::test(start_paused = true)]
    async fn sleeping_checks_have_no_task_of_their_own() {
        struct Quick;
        impl Check for Quick {
            fn run<'a>(&'a self, _probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
                Box::pin(async { Ok(()) })
            }
        }

        let total = 1000;
        let quick = checks_running(&tcp_checks(total, "{ interval: 1h, timeout: 10s }"), || Arc::new(Quick));
        let metrics = Arc::new(Metrics::new("1", "r"));
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(metrics.clone(), shutdown.clone());
        scheduler.apply(quick).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(metrics.last_runs().iter().count(), total, "every check ran once");
        let alive = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        assert_eq!(alive, 1, "tasks alive while {total} checks sleep");
        shutdown.cancel();
        scheduler.stop().await;
        assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), 0);
    }

    /// A reload that removes a check whose run is in flight abandons the
    /// run: its series go at once and its result never brings them back; a
    /// check whose configuration changed is stopped and started again.
    #[tokio::test(start_paused = true)]
    async fn a_removed_checks_run_is_abandoned_and_its_series_stay_gone() {
        /// Holds its run until the gate opens.
        struct Held(Arc<Semaphore>);
        impl Check for Held {
            fn run<'a>(&'a self, _probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
                Box::pin(async move {
                    let _open = self.0.acquire().await;
                    Ok(())
                })
            }
        }
        let gate = Arc::new(Semaphore::new(0));
        let held = |yaml: &str| checks_running(yaml, || Arc::new(Held(gate.clone())));
        let metrics = Arc::new(Metrics::new("1", "r"));
        let shutdown = CancellationToken::new();
        let mut scheduler = Scheduler::new(metrics.clone(), shutdown.clone());

        let applied = scheduler
            .apply(held(
                "checks:\n  - { name: a, kind: tcp, target: \"127.0.0.1:9\" }\n  - { name: b, kind: tcp, target: \"127.0.0.1:9\" }\n",
            ))
            .await;
        assert_eq!(
            applied,
            Applied {
                kept: 0,
                started: 2,
                stopped: 0
            }
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            tokio::runtime::Handle::current().metrics().num_alive_tasks(),
            3,
            "the driver and two runs"
        );
        assert!(metrics.render().contains(r#"check="a""#));

        // a removed, b changed (new target), both while their runs are held.
        let applied = scheduler
            .apply(held("checks:\n  - { name: b, kind: tcp, target: \"127.0.0.1:10\" }\n"))
            .await;
        assert_eq!(
            applied,
            Applied {
                kept: 0,
                started: 1,
                stopped: 2
            }
        );
        assert_eq!(scheduler.len(), 1);
        gate.add_permits(10);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let text = metrics.render();
        assert!(!text.contains(r#"check="a""#), "a removed check's series came back:\n{text}");
        let runs = metrics.last_runs();
        let targets: Vec<&str> = runs.iter().map(|(meta, _)| meta.target.as_str()).collect();
        assert_eq!(targets, ["127.0.0.1:10"], "only the new b has a last run");

        // Unchanged: kept, not run again before its interval.
        let applied = scheduler
            .apply(held("checks:\n  - { name: b, kind: tcp, target: \"127.0.0.1:10\" }\n"))
            .await;
        assert_eq!(
            applied,
            Applied {
                kept: 1,
                started: 0,
                stopped: 0
            }
        );
        shutdown.cancel();
        scheduler.stop().await;
    }

    #[test]
    fn an_absurd_interval_is_a_far_next_run_not_a_panic() {
        let now = Instant::now();
        for interval in [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
            humantime::parse_duration("500000y").unwrap(),
        ] {
            let next = next_run(now, interval);
            assert!(next > now + Duration::from_secs(86400 * 365), "{interval:?} -> {:?}", next - now);
        }
        let next = next_run(now, Duration::from_secs(60));
        assert!(next >= now + Duration::from_secs(55) && next <= now + Duration::from_secs(65));
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
