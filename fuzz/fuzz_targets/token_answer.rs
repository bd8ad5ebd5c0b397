//! A token endpoint answer: status (first two bytes), token or devicecode
//! answer (third byte), body (the rest). A verdict with a bounded detail.
#![no_main]

use ece_o365_exporter::fuzzing::judge_answer;
use ece_o365_exporter::observation::{Failure, MAX_DETAIL_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, device, body @ ..] = data else { return };
    let status = 100 + u16::from_be_bytes([*a, *b]) % 500;
    if let Err(e) = judge_answer(status, "application/json", body, device & 1 == 1) {
        assert!(Failure::from(e).detail.len() <= MAX_DETAIL_CHARS + 3);
    }
});
