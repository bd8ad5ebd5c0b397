//! `secret protect`: a secret read from standard input (never from the
//! command line, where other users and the shell's history would see it)
//! written to a file protected with DPAPI for this machine, which
//! `client_secret: dpapi:PATH` and `proxy_password: dpapi:PATH` read.
//!
//! It owns reading the input (bounded), trimming one trailing newline,
//! protecting (Windows, through the `win-ffi` crate) and writing the file
//! atomically ([`crate::atomic_file`]). It must not log, print or put the
//! secret into an error. Off Windows it refuses, pointing to systemd
//! credentials.

use std::io::{self, Read};
use std::path::Path;

use secrecy::zeroize::Zeroize;

/// The most bytes read from standard input: a client secret is 40 characters.
pub const MAX_SECRET_BYTES: u64 = 16 * 1024;

/// Why `secret protect` failed: never the secret itself.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret from standard input: {0}")]
    Read(io::Error),
    #[error("the secret on standard input is longer than {MAX_SECRET_BYTES} bytes")]
    TooLong,
    #[error("standard input held no secret (pipe it in: `type secret.txt | ece-o365-exporter secret protect --out PATH`)")]
    Empty,
    #[error("the secret is not UTF-8 text")]
    NotText,
    #[error("cannot protect the secret with DPAPI: {0}")]
    Protect(io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`secret protect` writes a file protected with Windows DPAPI and runs on Windows only; on Linux, \
         encrypt the secret with `systemd-creds encrypt`, load it with LoadCredentialEncrypted= in the unit and \
         write `client_secret: file:${{CREDENTIALS_DIRECTORY}}/NAME` (docs/packaging.md)"
    )]
    NotWindows,
}

/// Reads the secret from `input` (at most [`MAX_SECRET_BYTES`]) and removes
/// one trailing newline (`\n` or `\r\n`), which `echo` and editors add;
/// anything else, spaces included, is kept.
pub fn read_secret(input: impl Read) -> Result<Vec<u8>, SecretError> {
    let mut buf = Vec::new();
    input.take(MAX_SECRET_BYTES + 1).read_to_end(&mut buf).map_err(SecretError::Read)?;
    let result = if buf.len() as u64 > MAX_SECRET_BYTES {
        Err(SecretError::TooLong)
    } else {
        let mut end = buf.len();
        if buf[..end].ends_with(b"\n") {
            end -= 1;
            if buf[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        if end == 0 {
            Err(SecretError::Empty)
        } else if std::str::from_utf8(&buf[..end]).is_err() {
            Err(SecretError::NotText)
        } else {
            Ok(buf[..end].to_vec())
        }
    };
    buf.zeroize();
    result
}

/// `secret protect --out PATH`: reads the secret from `input`, protects it
/// for this machine and replaces `out` with the protected blob.
pub fn protect_to_file(input: impl Read, out: &Path) -> Result<(), SecretError> {
    if !cfg!(windows) {
        return Err(SecretError::NotWindows);
    }
    let mut secret = read_secret(input)?;
    let blob = protect(&secret);
    secret.zeroize();
    crate::atomic_file::write(out, &blob?).map_err(|e| SecretError::Write {
        path: out.to_path_buf(),
        source: e.into(),
    })
}

#[cfg(windows)]
fn protect(secret: &[u8]) -> Result<Vec<u8>, SecretError> {
    win_ffi::dpapi::protect(secret).map_err(SecretError::Protect)
}

#[cfg(not(windows))]
fn protect(_: &[u8]) -> Result<Vec<u8>, SecretError> {
    Err(SecretError::NotWindows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_removed_and_nothing_else() {
        assert_eq!(read_secret(&b"abc~def\n"[..]).unwrap(), b"abc~def");
        assert_eq!(read_secret(&b"abc~def\r\n"[..]).unwrap(), b"abc~def");
        assert_eq!(read_secret(&b"abc~def"[..]).unwrap(), b"abc~def");
        assert_eq!(read_secret(&b" abc \n\n"[..]).unwrap(), b" abc \n");
    }

    #[test]
    fn empty_long_and_binary_input_is_refused_without_showing_it() {
        assert!(matches!(read_secret(&b"\n"[..]), Err(SecretError::Empty)));
        assert!(matches!(read_secret(&b""[..]), Err(SecretError::Empty)));
        let long = vec![b'x'; MAX_SECRET_BYTES as usize + 1];
        assert!(matches!(read_secret(&long[..]), Err(SecretError::TooLong)));
        let exact = vec![b'x'; MAX_SECRET_BYTES as usize];
        assert_eq!(read_secret(&exact[..]).unwrap().len(), MAX_SECRET_BYTES as usize);
        let e = read_secret(&b"\xff\xfesecret"[..]).unwrap_err();
        assert!(matches!(e, SecretError::NotText));
        assert!(!e.to_string().contains("secret\""), "{e}");
    }

    #[cfg(not(windows))]
    #[test]
    fn off_windows_it_refuses_and_points_to_systemd_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("secret.dpapi");
        let e = protect_to_file(&b"value\n"[..], &out).unwrap_err();
        assert!(e.to_string().contains("LoadCredentialEncrypted="), "{e}");
        assert!(!out.exists(), "nothing written");
    }
}
