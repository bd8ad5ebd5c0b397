//! One HTTP answer (status line, headers, body by length, chunks or close),
//! split anywhere: never a panic, the same verdict however it arrives, and
//! never more body kept than the cap.
#![no_main]

use ece_o365_exporter::fuzzing::{self, HTTP_LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let whole = fuzzing::http_response(wire, &[]);
    assert_eq!(whole, fuzzing::http_response(wire, &[usize::from(chunk)]));
    if let Ok((status, body)) = whole {
        assert!((100..600).contains(&status) && body.len() <= HTTP_LIMITS.max_body);
    }
});
