//! Wall-clock time as Unix seconds: the one place that turns a
//! [`SystemTime`] into the integer or float seconds the token store, the
//! guide's dates and the metrics carry.
//!
//! It only converts; it must not decide what a time means (expiry, ages and
//! deadlines belong to their callers) and must not panic: a time before the
//! epoch is 0 and one past `i64`'s range saturates.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds, saturating (0 before the epoch, `i64::MAX` past its range).
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix seconds with the fraction, 0 before the epoch.
pub fn unix_seconds_f64(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Now, in Unix seconds (see [`unix_seconds`]).
pub fn now_unix() -> i64 {
    unix_seconds(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn saturates_at_both_ends() {
        assert_eq!(unix_seconds(UNIX_EPOCH), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), 1_700_000_000);
        if let Some(before) = UNIX_EPOCH.checked_sub(Duration::from_secs(5)) {
            assert_eq!(unix_seconds(before), 0);
            assert_eq!(unix_seconds_f64(before), 0.0);
        }
        if let Some(far) = UNIX_EPOCH.checked_add(Duration::from_secs(u64::MAX / 2)) {
            assert_eq!(unix_seconds(far), i64::MAX);
        }
        assert_eq!(unix_seconds_f64(UNIX_EPOCH + Duration::from_millis(1_500)), 1.5);
        assert!(now_unix() > 1_700_000_000);
    }
}
