//! A mail flow check's `UID FETCH` of its probe header: literals read (not
//! skipped) within the codec's bounds, split anywhere.
#![no_main]

use ece_o365_exporter::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::mailflow_markers(wire, &[]);
    assert_eq!(whole, fuzzing::mailflow_markers(wire, &[usize::from(chunk)]));
});
