//! JWT claims: decoding any text, then judging the claims.
#![no_main]

use ece_o365_exporter::oauth::jwt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Some(claims) = jwt::decode(token) {
        let _ = claims.user();
        let _ = claims.lifetime();
        let want = jwt::Expectation {
            user: Some("support@contoso.com"),
            scopes: &["IMAP.AccessAsUser.All"],
            roles: &[],
        };
        let _ = jwt::check(&claims, &want);
    }
});
