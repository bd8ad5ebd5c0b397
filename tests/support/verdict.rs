//! Asserting a check run's verdict, for the test files that run checks
//! (`checks`, `https`, `proxy`). Included by path where it is used, so no
//! other test binary carries it unused.

use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};

/// The phases the run went through, in order.
pub fn phases(obs: &Observation) -> Vec<Phase> {
    obs.phases.iter().map(|(p, _)| *p).collect()
}

/// The run passed.
#[track_caller]
pub fn assert_ok(obs: &Observation) {
    if let Err(f) = &obs.outcome {
        panic!("check failed in {:?}: {f}", obs.failed_phase);
    }
}

/// The run failed with `reason` in `phase`; returns the failure's detail.
#[track_caller]
pub fn assert_fails(obs: &Observation, reason: Reason, phase: Phase) -> String {
    let failure = obs.outcome.as_ref().expect_err("the check should have failed");
    assert_eq!(
        (failure.reason, obs.failed_phase),
        (reason, Some(phase)),
        "detail: {}",
        failure.detail
    );
    failure.detail.clone()
}
