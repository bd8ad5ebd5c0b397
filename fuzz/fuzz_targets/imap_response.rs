//! The IMAP response to a tagged command, literals included, split anywhere.
#![no_main]

use ece_o365_exporter::fuzzing::{self, LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::imap_response(wire, &[]);
    assert_eq!(whole, fuzzing::imap_response(wire, &[usize::from(chunk)]));
    if let Ok((_, _, untagged)) = whole {
        assert!(untagged.len() < LIMITS.max_lines);
    }
});
