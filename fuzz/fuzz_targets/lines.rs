//! The bounded line codec: any bytes, read in pieces of any size (the first
//! byte picks it), give the same lines as read whole, each under the limit.
#![no_main]

use ece_o365_exporter::fuzzing::{self, LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::lines(wire, &[], LIMITS);
    assert_eq!(whole, fuzzing::lines(wire, &[usize::from(chunk)], LIMITS));
    assert!(whole.0.iter().all(|l| l.chars().count() < LIMITS.max_line));
});
