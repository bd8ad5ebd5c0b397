//! What a mail server says about a message and a submission: the IMAP
//! INTERNALDATE and RFC 5322 date parsers, the first `Received:` header of
//! a header block, and the SMTP reply classifier. None may panic; a date is
//! always within the years they accept.
#![no_main]

use ece_o365_exporter::proto::mail_dates::{MAX_YEAR, fetch_internaldate, first_received_date, parse_internaldate, parse_rfc5322};
use ece_o365_exporter::proto::smtp_replies::{Enhanced, SmtpStep, classify};
use libfuzzer_sys::fuzz_target;

/// 10000-01-01T00:00:00Z, plus a day for the zones east of UTC.
const END: i64 = 253_402_300_800 + 86_400;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for t in [
        parse_internaldate(&text),
        parse_rfc5322(&text),
        fetch_internaldate(&text).flatten(),
        first_received_date(&lines).flatten(),
    ]
    .into_iter()
    .flatten()
    {
        assert!((0..END).contains(&t) && MAX_YEAR == 9999, "{t}");
    }
    let step = [SmtpStep::Auth, SmtpStep::MailFrom, SmtpStep::RcptTo, SmtpStep::Data][usize::from(selector % 4)];
    let code = u16::from(selector) * 4;
    let verdict = classify(step, code, Enhanced::parse(&text), &text);
    assert_eq!(verdict.is_none(), !(400..600).contains(&code));
});
