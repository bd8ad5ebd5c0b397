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

/// The UTC calendar date of Unix seconds: (year, month 1-12, day 1-31)
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_date(unix: i64) -> (i64, u32, u32) {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both within 1..=31 and 1..=12 by construction.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    fn civil_dates_follow_the_calendar() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(951_782_400), (2000, 2, 29));
        assert_eq!(civil_date(1_796_292_000), (2026, 12, 3));
        assert_eq!(civil_date(4_102_444_799), (2099, 12, 31));
    }

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
