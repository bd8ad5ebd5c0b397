//! Redacting the credentials of URLs (`scheme://user:password@host`) in text
//! that is shown to someone: configuration errors, their source-line
//! snippets, `Debug` of configuration values. A proxy URL may carry a
//! password; nothing that echoes a URL may show it.
//!
//! It owns one rule and applies it everywhere: the userinfo of a URL is
//! replaced by `***`. It does not parse or validate URLs (that is the
//! configuration's validation) and errs on the side of hiding too much:
//! from `://` to the last `@` of the same token is hidden, even when the URL
//! is malformed.

use std::borrow::Cow;

/// What replaces the userinfo of a URL.
pub const REDACTED: &str = "***";

/// Characters that end the token a URL is part of: line ends, quotes and the
/// brackets or backticks messages put around a value. Spaces do not end it:
/// a password with a space in it is still a password.
fn ends_token(c: char) -> bool {
    matches!(c, '\n' | '\r' | '"' | '\'' | '`' | '<' | '>')
}

/// One URL written by the user (with or without a scheme), its userinfo
/// replaced by `***`: `socks5://user:pass@host:1080` becomes
/// `socks5://***@host:1080`, `user:pass@host` becomes `***@host`.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[start..].rfind('@') {
        Some(at) => Cow::Owned(format!("{}{REDACTED}{}", &url[..start], &url[start + at..])),
        None => Cow::Borrowed(url),
    }
}

/// Free text (an error message, a line of YAML) with the userinfo of every
/// `scheme://...@` URL in it replaced by `***`.
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let token_len = after.find(ends_token).unwrap_or(after.len());
        let token = &after[..token_len];
        match token.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &after[token_len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url() {
        assert_eq!(redact_url("socks5://user:pass@host:1080"), "socks5://***@host:1080");
        assert_eq!(redact_url("http://user:pass@/"), "http://***@/");
        assert_eq!(redact_url("http://user:p@ss@proxy:99999"), "http://***@proxy:99999");
        assert_eq!(redact_url("user:pass@proxy:8080"), "***@proxy:8080");
        assert_eq!(redact_url("http://proxy.corp:8080"), "http://proxy.corp:8080");
    }

    #[test]
    fn urls_in_text() {
        assert_eq!(
            redact_urls("`socks5://user:pass@host` is not an http(s):// URL"),
            "`socks5://***@host` is not an http(s):// URL"
        );
        assert_eq!(
            redact_urls("5 |     proxy: \"http://u:pa ss@h:1\"  # x\n  |     ^"),
            "5 |     proxy: \"http://***@h:1\"  # x\n  |     ^"
        );
        assert_eq!(
            redact_urls("a http://a:b@c and https://d:e@f\nsupport@contoso.com"),
            "a http://***@f\nsupport@contoso.com"
        );
        let plain = "no URL here, mail support@contoso.com";
        assert!(matches!(redact_urls(plain), Cow::Borrowed(_)));
        assert_eq!(
            redact_urls("https://login.microsoftonline.com/x"),
            "https://login.microsoftonline.com/x"
        );
    }
}
