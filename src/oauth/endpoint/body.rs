//! Reading a token endpoint answer: at most [`MAX_BODY_BYTES`] of body,
//! wiped when dropped, and the two headers we use (`Retry-After`,
//! `Content-Type`). It judges nothing (see `classify`) and keeps no text
//! that is not bounded.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use secrecy::zeroize::Zeroize;

use super::MAX_RETRY_AFTER;
use crate::observation::sanitize;

/// The largest response body we read; token responses are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A response body that is wiped when dropped (it may hold tokens).
pub(super) struct Body(pub(super) Vec<u8>);

impl Drop for Body {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

pub(super) enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads at most `cap` bytes of body; stops (dropping the connection) as
/// soon as the body is known to be larger.
pub(super) async fn read_capped(response: &mut reqwest::Response, cap: usize) -> Result<Body, ReadError> {
    if response.content_length().is_some_and(|len| len > cap as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Body(Vec::new());
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.0.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge);
        }
        body.0.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The seconds form of `Retry-After`; the HTTP-date form is ignored.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

pub(super) fn content_type(headers: &HeaderMap) -> String {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    short(value.split(';').next().unwrap_or("").trim(), MAX_ID_CHARS)
}

/// Longest trace/correlation id kept (they are GUIDs, 36 characters).
pub(super) const MAX_ID_CHARS: usize = 64;

/// Sanitised and cut to `max` characters.
pub(super) fn short(text: &str, max: usize) -> String {
    sanitize(text).chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_only_and_clamped() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "17".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(17)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "99999999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }
}
