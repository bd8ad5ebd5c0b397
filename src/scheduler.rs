//! Runs every check on its own schedule: one task per check, first run at
//! start, then every `interval` with jitter so checks spread out; one run of
//! a check at a time; each result handed to [`Metrics`]. Stops when the
//! shutdown token is cancelled, abandoning runs in flight.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checks::{ScheduledCheck, run_check};
use crate::metrics::Metrics;
use crate::observation::Observation;

/// The most a run may be moved from its nominal time, as a fraction of the interval.
const JITTER_FRACTION: f64 = 0.1;
/// ...and in absolute terms, so long intervals stay predictable.
const MAX_JITTER: Duration = Duration::from_secs(5);

/// Runs `checks` until `shutdown` is cancelled.
pub async fn run(checks: Vec<ScheduledCheck>, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let mut tasks = JoinSet::new();
    for check in checks {
        metrics.declare(&check.meta);
        tasks.spawn(run_one(check, metrics.clone(), shutdown.clone()));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            tracing::error!(error = %e, "a check task panicked");
        }
    }
}

async fn run_one(check: ScheduledCheck, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let mut was_failing = false;
    loop {
        let obs = tokio::select! {
            obs = run_check(&check) => obs,
            () = shutdown.cancelled() => return,
        };
        metrics.observe(&check.meta, &obs);
        was_failing = log_transition(&check, &obs, was_failing);
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
