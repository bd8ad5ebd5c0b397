//! The dates mail servers send, parsed strictly into Unix seconds: IMAP's
//! `INTERNALDATE` (RFC 3501 `date-time`) and the date of a `Received:`
//! header (RFC 5322 `date-time`, with its obsolete zones). Used to read a
//! folder's oldest message, so ECE's retrieval backlog shows as an age.
//!
//! Pure functions over bounded text: no clock, no I/O, checked arithmetic.
//! A date outside [`MIN_YEAR`]..=[`MAX_YEAR`], a field out of range (31 Feb,
//! 25:00, a zone beyond 23:59) or any extra character is refused (`None`):
//! a server's absurd date never becomes a metric.

/// The earliest year accepted: no mailbox holds older mail.
pub const MIN_YEAR: i64 = 1970;
/// The latest year accepted.
pub const MAX_YEAR: i64 = 9999;

/// The longest date text looked at; longer ones are refused unread.
const MAX_DATE: usize = 128;

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn month(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == lower).and_then(|i| u32::try_from(i + 1).ok())
}

/// `n` ASCII digits exactly, as a number.
fn digits(text: &str, min: usize, max: usize) -> Option<i64> {
    if text.len() < min || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: i64) -> i64 {
    let m = i64::from(month);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A civil date, time and zone offset (seconds east of UTC) to Unix seconds,
/// every field checked.
fn unix(year: i64, month: u32, day: i64, (h, m, s): (i64, i64, i64), offset: i64) -> Option<i64> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // A leap second counts as the last second of its minute.
    let s = s.min(59);
    let t = days_from_civil(year, month, day)
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + s)?
        .checked_sub(offset)?;
    (t >= 0).then_some(t)
}

/// `hh:mm:ss` (or `hh:mm` when `seconds_optional`).
fn time(text: &str, seconds_optional: bool) -> Option<(i64, i64, i64)> {
    let mut parts = text.split(':');
    let h = digits(parts.next()?, 2, 2)?;
    let m = digits(parts.next()?, 2, 2)?;
    let s = match parts.next() {
        Some(s) => digits(s, 2, 2)?,
        None if seconds_optional => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((h, m, s))
}

/// `+hhmm` / `-hhmm` -> seconds east of UTC.
fn numeric_zone(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let hhmm = digits(rest, 4, 4)?;
    let (h, m) = (hhmm / 100, hhmm % 100);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// RFC 3501 `date-time` without its quotes: `17-Jul-1996 02:44:25 -0700`
/// (the day may be one digit, or two with a leading space).
pub fn parse_internaldate(text: &str) -> Option<i64> {
    if text.len() > MAX_DATE {
        return None;
    }
    let text = text.strip_prefix(' ').unwrap_or(text);
    let mut words = text.split(' ');
    let date = words.next()?;
    let clock = words.next()?;
    let zone = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let mut parts = date.split('-');
    let day = digits(parts.next()?, 1, 2)?;
    let month = month(parts.next()?)?;
    let year = digits(parts.next()?, 4, 4)?;
    if parts.next().is_some() {
        return None;
    }
    unix(year, month, day, time(clock, false)?, numeric_zone(zone)?)
}

/// The quoted `INTERNALDATE "..."` of a `FETCH` response's data
/// (`1 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700")`): `None` when the
/// item is missing, `Some(None)` when it is there but not a valid date.
pub fn fetch_internaldate(data: &str) -> Option<Option<i64>> {
    let upper_at = data.to_ascii_uppercase().find("INTERNALDATE \"")?;
    let rest = &data[upper_at + "INTERNALDATE \"".len()..];
    let Some(end) = rest.find('"') else {
        return Some(None);
    };
    Some(parse_internaldate(&rest[..end]))
}

/// RFC 5322 `date-time`: `[day-of-week ","] day month year hour ":" minute
/// [":" second] zone`, with the obsolete zones (`UT`, `GMT`, `EST`...) and
/// a trailing comment such as `(UTC)`. Folding whitespace counts as one space.
pub fn parse_rfc5322(text: &str) -> Option<i64> {
    if text.len() > MAX_DATE {
        return None;
    }
    let mut text = text.trim_matches([' ', '\t']);
    // One trailing comment, e.g. `+0000 (UTC)`.
    if text.ends_with(')') {
        let open = text.rfind('(')?;
        text = text[..open].trim_end_matches([' ', '\t']);
    }
    // The day of the week, when present, must be a real one (it is not checked against the date).
    if let Some((dow, rest)) = text.split_once(',') {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if !DAYS.contains(&dow.trim().to_ascii_lowercase().as_str()) {
            return None;
        }
        text = rest;
    }
    let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
    let day = digits(words.next()?, 1, 2)?;
    let month = month(words.next()?)?;
    let year = words.next()?;
    // Obsolete two-digit years (RFC 5322 4.3).
    let year = match year.len() {
        2 => digits(year, 2, 2).map(|y| if y < 50 { 2000 + y } else { 1900 + y })?,
        4 => digits(year, 4, 4)?,
        _ => return None,
    };
    let clock = time(words.next()?, true)?;
    let zone = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let offset = match zone.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EDT" => -4 * 3600,
        "EST" | "CDT" => -5 * 3600,
        "CST" | "MDT" => -6 * 3600,
        "MST" | "PDT" => -7 * 3600,
        "PST" => -8 * 3600,
        _ => numeric_zone(zone)?,
    };
    unix(year, month, day, clock, offset)
}

/// The date of the first `Received:` header among a message's header lines
/// (as `TOP n 0` returns them, folded lines unfolded): the text after its
/// last `;`. `None` when there is no `Received:` header before the body,
/// `Some(None)` when its date is missing or not valid.
pub fn first_received_date(header_lines: &[String]) -> Option<Option<i64>> {
    let is_received = |l: &String| l.get(..9).is_some_and(|name| name.eq_ignore_ascii_case("received:"));
    let head = header_lines.iter().take_while(|l| !l.is_empty());
    let mut rest = head.skip_while(|l| !is_received(l));
    let first = rest.next()?;
    let mut value = String::from(&first[9..]);
    for continued in rest.take_while(|l| l.starts_with([' ', '\t'])) {
        // A folded header longer than any real one is not read further.
        if value.len() + continued.len() > 4096 {
            return Some(None);
        }
        value.push(' ');
        value.push_str(continued.trim_start_matches([' ', '\t']));
    }
    let Some((_, date)) = value.rsplit_once(';') else {
        return Some(None);
    };
    Some(parse_rfc5322(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internaldates_parse_strictly() {
        assert_eq!(parse_internaldate("17-Jul-1996 02:44:25 -0700"), Some(837_596_665));
        assert_eq!(parse_internaldate("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_internaldate(" 3-Dec-2026 10:00:00 +0000"), Some(1_796_292_000));
        assert_eq!(parse_internaldate("3-Dec-2026 10:00:00 +0000"), Some(1_796_292_000));
        assert_eq!(parse_internaldate("03-dec-2026 11:00:00 +0100"), Some(1_796_292_000));
        assert_eq!(parse_internaldate("29-Feb-2024 23:59:60 +0000"), Some(1_709_251_199));
        for bad in [
            "",
            "17-Jul-1996 02:44:25",
            "17-Jul-1996 02:44 -0700",
            "31-Feb-2026 00:00:00 +0000",
            "29-Feb-2025 00:00:00 +0000",
            "17-Jux-1996 02:44:25 -0700",
            "17-Jul-96 02:44:25 -0700",
            "17-Jul-1996 24:00:00 -0700",
            "17-Jul-1996 02:60:00 -0700",
            "17-Jul-1996 02:44:25 -2400",
            "17-Jul-1996 02:44:25 0700",
            "17-Jul-1996 02:44:25 -0700 x",
            "01-Jan-1900 00:00:00 +0000",
            "01-Jan-0000 00:00:00 +0000",
            "01-Jan-99999 00:00:00 +0000",
            "99999999999999999999-Jan-2026 00:00:00 +0000",
            "+1-Jan-2026 00:00:00 +0000",
            "01-Jan-2026 0a:00:00 +0000",
            "01-Jan-1970 00:00:00 +0100",
        ] {
            assert_eq!(parse_internaldate(bad), None, "{bad:?}");
        }
        assert_eq!(parse_internaldate(&"1".repeat(10_000)), None);
    }

    #[test]
    fn fetch_responses_carry_the_internaldate() {
        assert_eq!(
            fetch_internaldate("1 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")"),
            Some(Some(837_596_665))
        );
        assert_eq!(
            fetch_internaldate("1 FETCH (UID 4 internaldate \"17-Jul-1996 02:44:25 -0700\" FLAGS (\\Seen))"),
            Some(Some(837_596_665))
        );
        assert_eq!(fetch_internaldate("1 FETCH (FLAGS (\\Seen))"), None);
        assert_eq!(fetch_internaldate("1 FETCH (INTERNALDATE \"17-Jul-1996"), Some(None));
        assert_eq!(
            fetch_internaldate("1 FETCH (INTERNALDATE \"31-Dec-99999 00:00:00 +0000\")"),
            Some(None)
        );
    }

    #[test]
    fn rfc5322_dates_parse_strictly() {
        assert_eq!(parse_rfc5322(" Tue, 16 Jul 1996 19:44:25 -0700"), Some(837_571_465));
        assert_eq!(parse_rfc5322("Thu, 3 Dec 2026 10:00:00 +0000"), Some(1_796_292_000));
        assert_eq!(parse_rfc5322("3 Dec 2026 10:00:00 +0000 (UTC)"), Some(1_796_292_000));
        assert_eq!(parse_rfc5322("Thu, 03 Dec 2026 05:00 EST"), Some(1_796_292_000));
        assert_eq!(parse_rfc5322("Thu, 3 Dec 26 10:00:00 GMT"), Some(1_796_292_000));
        assert_eq!(parse_rfc5322("Thu,\t3  Dec 2026\t10:00:00 -0000"), Some(1_796_292_000));
        for bad in [
            "",
            "Thu, 3 Dec 2026 10:00:00",
            "Xyz, 3 Dec 2026 10:00:00 +0000",
            "Thu, 32 Dec 2026 10:00:00 +0000",
            "Thu, 3 Dec 2026 10:00:00 +9999",
            "Thu, 3 Dec 2026 10:00:00 MESZ",
            "Thu, 3 Dec 12026 10:00:00 +0000",
            "Thu, 3 Dec 2026 10:00:00 +0000 trailing",
            "Thu, 3 Dec 2026 10:00:00 +0000 (unclosed",
            "Thu, 3 Dec 1969 10:00:00 +0000",
            "Thu, 3 Dec 2026 1:00:00 +0000",
        ] {
            assert_eq!(parse_rfc5322(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_rfc5322(&format!("Thu, 3 Dec 2026 10:00:00 +0000 ({})", "x".repeat(10_000))),
            None
        );
    }

    fn lines(text: &str) -> Vec<String> {
        text.split("\r\n").map(str::to_string).collect()
    }

    #[test]
    fn the_first_received_header_gives_the_date() {
        let head = lines(
            "Return-Path: <a@example.com>\r\n\
             Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208::1)\r\n \
             by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Thu, 3 Dec 2026\r\n \
             10:00:00 +0000\r\n\
             Received: from x by y; Wed, 2 Dec 2026 10:00:00 +0000\r\n\
             Subject: hello\r\n\
             \r\n\
             Received: in the body; Mon, 1 Jan 2024 00:00:00 +0000",
        );
        assert_eq!(first_received_date(&head), Some(Some(1_796_292_000)));
        assert_eq!(
            first_received_date(&lines("received:by x; 3 Dec 2026 10:00:00 +0000")),
            Some(Some(1_796_292_000))
        );
        assert_eq!(
            first_received_date(&lines("Subject: none\r\n\r\nReceived: x; 3 Dec 2026 10:00:00 +0000")),
            None
        );
        assert_eq!(first_received_date(&lines("Received: from x by y")), Some(None));
        assert_eq!(first_received_date(&lines("Received: x; 31 Feb 2026 10:00:00 +0000")), Some(None));
        assert_eq!(first_received_date(&[]), None);
        let mut endless = vec!["Received: from x".to_string()];
        endless.extend(std::iter::repeat_n(format!(" {}", "y".repeat(500)), 100));
        endless.push(" ; 3 Dec 2026 10:00:00 +0000".into());
        assert_eq!(
            first_received_date(&endless),
            Some(None),
            "a folded header beyond 4 KiB is not read"
        );
    }
}
