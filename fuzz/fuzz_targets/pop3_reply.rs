//! A POP3 status line and multi-line body, split anywhere.
#![no_main]

use ece_o365_exporter::fuzzing::{self, LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::pop3_reply(wire, &[]);
    assert_eq!(whole, fuzzing::pop3_reply(wire, &[usize::from(chunk)]));
    if let Ok((_, body)) = whole {
        assert!(body.len() <= LIMITS.max_lines);
    }
});
