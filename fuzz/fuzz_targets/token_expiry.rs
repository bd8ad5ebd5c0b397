//! A token answer's numbers through the provider: `now` (bytes 0-7), the
//! access token's `iat` and `exp` (bytes 8-15 and 16-23, present when bits 0
//! and 1 of byte 24 are set), and the rest as the JSON text of `expires_in`.
//! Never a panic; a kept token expires at or after `now`, within the bound;
//! anything else is `token_bad_response`; the lifetime is `exp - iat` when
//! that fits an i64.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use ece_o365_exporter::fuzzing::{token_answer_body, token_expiry};
use ece_o365_exporter::oauth::provider::MAX_EXPIRES_IN;
use ece_o365_exporter::reason::Reason;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, expires_in)) = data.split_first_chunk::<25>() else { return };
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[at..at + 8]);
        b
    };
    let Some(now) = UNIX_EPOCH.checked_add(Duration::from_secs(u64::from_be_bytes(word(0)))) else { return };
    let iat = (head[24] & 1 == 1).then(|| i64::from_be_bytes(word(8)));
    let exp = (head[24] & 2 == 2).then(|| i64::from_be_bytes(word(16)));
    let body = token_answer_body(&String::from_utf8_lossy(expires_in), iat, exp);
    match token_expiry(&body, now) {
        Ok(e) => {
            let lasts = e.expires_at.duration_since(now).expect("the expiry is not before now");
            assert!(lasts <= MAX_EXPIRES_IN, "{lasts:?}");
            assert_eq!(e.lifetime, exp.zip(iat).and_then(|(exp, iat)| exp.checked_sub(iat)));
        }
        Err(reason) => assert_eq!(reason, Reason::TokenBadResponse),
    }
});
