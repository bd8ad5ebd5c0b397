//! DPAPI for this machine: [`protect`] encrypts bytes with
//! `CryptProtectData(CRYPTPROTECT_LOCAL_MACHINE)`, so that any account of
//! this machine (the service runs as SYSTEM, `token init` as an
//! Administrator) and no other machine can decrypt them with
//! [`unprotect`]. The blob is DPAPI's own format, the one PowerShell's
//! `[Security.Cryptography.ProtectedData]::Protect(..., 'LocalMachine')`
//! writes too.

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Cryptography::{
    CRYPT_INTEGER_BLOB, CRYPTPROTECT_LOCAL_MACHINE, CRYPTPROTECT_UI_FORBIDDEN, CryptProtectData, CryptUnprotectData,
};

/// The most bytes handed to DPAPI at once (its length field is 32 bits).
const MAX_LEN: usize = u32::MAX as usize;

fn blob_in(data: &[u8]) -> io::Result<CRYPT_INTEGER_BLOB> {
    if data.len() > MAX_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too large for DPAPI"));
    }
    Ok(CRYPT_INTEGER_BLOB {
        cbData: data.len() as u32,
        // DPAPI only reads the input blob.
        pbData: data.as_ptr().cast_mut(),
    })
}

/// Copies the output blob DPAPI allocated, wipes it when `wipe`, and frees it.
fn take(out: CRYPT_INTEGER_BLOB, wipe: bool) -> Vec<u8> {
    if out.pbData.is_null() {
        return Vec::new();
    }
    // SAFETY: on success DPAPI set `pbData` to a LocalAlloc'ed buffer of `cbData` bytes, not freed yet.
    let bytes = unsafe { std::slice::from_raw_parts_mut(out.pbData, out.cbData as usize) };
    let copy = bytes.to_vec();
    if wipe {
        for b in bytes.iter_mut() {
            // SAFETY: `b` is a valid, exclusive reference into the buffer; volatile so the wipe is not optimised away.
            unsafe { ptr::write_volatile(b, 0) };
        }
    }
    // SAFETY: the buffer came from LocalAlloc (DPAPI's contract) and nothing refers to it any more.
    unsafe { LocalFree(out.pbData.cast()) };
    copy
}

/// Encrypts `plain` for this machine.
pub fn protect(plain: &[u8]) -> io::Result<Vec<u8>> {
    let input = blob_in(plain)?;
    let mut out = CRYPT_INTEGER_BLOB {
        cbData: 0,
        pbData: ptr::null_mut(),
    };
    // SAFETY: `input` points to `plain`, alive for the call; the description, entropy, reserved and prompt
    // pointers may be null; `out` is a valid place for the result.
    let ok = unsafe {
        CryptProtectData(
            &input,
            ptr::null(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
            CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN,
            &mut out,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(take(out, false))
}

/// Decrypts a blob [`protect`] (or any machine-scope DPAPI caller on this
/// machine) wrote. The caller owns the plaintext: wipe it after use.
pub fn unprotect(blob: &[u8]) -> io::Result<Vec<u8>> {
    let input = blob_in(blob)?;
    let mut out = CRYPT_INTEGER_BLOB {
        cbData: 0,
        pbData: ptr::null_mut(),
    };
    // SAFETY: as in `protect`; a null description pointer asks for no description back.
    let ok = unsafe {
        CryptUnprotectData(
            &input,
            ptr::null_mut(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut out,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(take(out, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protected_secret_comes_back_and_is_not_in_the_blob() {
        let secret = b"s3cret-client-value~with.symbols";
        let blob = protect(secret).unwrap();
        assert!(blob.len() > secret.len(), "{} bytes", blob.len());
        assert!(!blob.windows(secret.len()).any(|w| w == secret), "the plaintext is in the blob");
        assert_eq!(unprotect(&blob).unwrap(), secret);
        // Protecting again gives another blob (a fresh salt), which decrypts the same.
        let again = protect(secret).unwrap();
        assert_ne!(again, blob);
        assert_eq!(unprotect(&again).unwrap(), secret);
    }

    #[test]
    fn a_damaged_blob_is_refused() {
        let mut blob = protect(b"value").unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 0xff;
        assert!(unprotect(&blob).is_err());
        assert!(unprotect(b"{\"version\":1}").is_err(), "plain JSON is not a DPAPI blob");
    }
}
