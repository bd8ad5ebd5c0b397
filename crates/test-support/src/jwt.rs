//! Test tokens and SASL payloads: HS256-signed JWTs that the Dovecot peer
//! validates and that look like Entra ID's delegated Exchange Online tokens,
//! and the XOAUTH2/OAUTHBEARER initial responses that carry them.
//!
//! HMAC-SHA-256 is `ring`'s and base64 is the `base64` crate's; this module
//! only assembles the token. It must not be used to validate anything.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::now;

/// The HS256 key Dovecot validates bearer tokens with (local JWT validation).
#[derive(Clone, Debug)]
pub struct OAuthKey {
    /// JWT header `kid`; only `[A-Za-z0-9._-]`, not starting with a dot.
    pub key_id: String,
    /// Raw HMAC secret.
    pub hs256_secret: Vec<u8>,
    /// Required `iss` claim; empty means Dovecot does not check the issuer.
    pub issuer: String,
}

/// A delegated Exchange Online access token as Entra ID would issue it for
/// `user` (audience outlook.office.com, `upn`, the space-separated `scp`),
/// signed with `key`, valid `lifetime` seconds from now.
pub fn delegated_exchange_jwt(key: &OAuthKey, user: &str, scp: &str, lifetime: u64) -> String {
    let claims = format!(r#"{{"aud":"https://outlook.office.com","upn":"{user}","scp":"{scp}","tid":"contoso"}}"#);
    mint_hs256_jwt(key, user, &claims, now() + lifetime)
}

/// An HS256-signed JWT that the Dovecot peer accepts for user `sub`.
///
/// Header: `{"alg":"HS256","typ":"JWT","kid":<key_id>}`. Claims: `iss` (when
/// `key.issuer` is non-empty), `sub`, `iat` (now), `exp`, then
/// `extra_claims_json`: either `""`, a JSON object (`{"aud":"x"}`) or its
/// members (`"aud":"x"`). An `iss` or `iat` in the extras replaces the
/// default. Note: an `azp` claim makes Dovecot look the key up under that
/// azp (see [`Dovecot::add_hs256_key`](crate::dovecot::Dovecot::add_hs256_key)).
pub fn mint_hs256_jwt(key: &OAuthKey, sub: &str, extra_claims_json: &str, exp_unix: u64) -> String {
    mint_hs256_jwt_at(key, sub, extra_claims_json, exp_unix, now())
}

fn mint_hs256_jwt_at(key: &OAuthKey, sub: &str, extra: &str, exp: u64, iat: u64) -> String {
    let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":{}}}"#, json_str(&key.key_id));
    let mut extra = extra.trim();
    if let Some(inner) = extra.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
        extra = inner.trim();
    }
    let mut claims = String::from("{");
    if !key.issuer.is_empty() && !extra.contains("\"iss\"") {
        let _ = write!(claims, "\"iss\":{},", json_str(&key.issuer));
    }
    let _ = write!(claims, "\"sub\":{},", json_str(sub));
    if !extra.contains("\"iat\"") {
        let _ = write!(claims, "\"iat\":{iat},");
    }
    let _ = write!(claims, "\"exp\":{exp}");
    if !extra.is_empty() {
        claims.push(',');
        claims.push_str(extra);
    }
    claims.push('}');
    let signing_input = format!("{}.{}", base64url(header.as_bytes()), base64url(claims.as_bytes()));
    let sig = hmac_sha256(&key.hs256_secret, signing_input.as_bytes());
    format!("{signing_input}.{}", base64url(&sig))
}

/// Base64 of the SASL XOAUTH2 initial response
/// (`user=<user>\x01auth=Bearer <token>\x01\x01`).
pub fn xoauth2_initial_response(user: &str, token: &str) -> String {
    base64_std(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// Base64 of the SASL OAUTHBEARER (RFC 7628) initial response.
pub fn oauthbearer_initial_response(user: &str, token: &str) -> String {
    base64_std(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64_std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Base64url without padding (RFC 4648 §5, as used by JWS).
pub fn base64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6 (key longer than the block size).
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn base64_variants() {
        assert_eq!(base64_std(b""), "");
        assert_eq!(base64_std(b"f"), "Zg==");
        assert_eq!(base64_std(b"fo"), "Zm8=");
        assert_eq!(base64_std(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn jwt_matches_independent_implementation() {
        // Reference computed with Python's hmac/hashlib/base64 for the same
        // header and claims.
        let key = OAuthKey {
            key_id: "testkid".into(),
            hs256_secret: b"supersecret-key-0123456789abcdef".to_vec(),
            issuer: "https://issuer.test/".into(),
        };
        let jwt = mint_hs256_jwt_at(&key, "alice@example.test", r#"{"aud":"x"}"#, 2000000000, 1700000000);
        assert_eq!(jwt, JWT_REFERENCE);
    }

    const JWT_REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InRlc3RraWQifQ.\
        eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0LyIsInN1YiI6ImFsaWNlQGV4YW1wbGUudGVzdCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoyMDAwMDAwMDAwLCJhdWQiOiJ4In0.\
        j2LBNIhMOxR3sJ1yGVphoPprX2A6U5Xwa2fw2e8_5nk";
}
