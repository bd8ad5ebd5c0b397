//! One SMTP reply (multi-line included), split anywhere.
#![no_main]

use ece_o365_exporter::fuzzing::{self, LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::smtp_reply(wire, &[]);
    assert_eq!(whole, fuzzing::smtp_reply(wire, &[usize::from(chunk)]));
    if let Ok((code, lines)) = whole {
        assert!((200..600).contains(&code) && lines.len() <= LIMITS.max_lines);
    }
});
