//! NUL-terminated UTF-16 strings for the `W` functions.

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;

/// `s` as UTF-16 with a terminating NUL; an interior NUL is an error (the
/// system would silently cut the string there).
pub(crate) fn wide(s: impl AsRef<OsStr>) -> std::io::Result<Vec<u16>> {
    let mut v: Vec<u16> = s.as_ref().encode_wide().collect();
    if v.contains(&0) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL character in a string"));
    }
    v.push(0);
    Ok(v)
}

/// A NUL-terminated UTF-16 string the system returned, as a `String`.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string that stays valid during the call.
pub(crate) unsafe fn from_wide_ptr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL-terminated string, so every index up to the NUL is in bounds.
    while unsafe { *p.wrapping_add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` elements from `p` were just read as valid.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    String::from_utf16_lossy(units)
}
