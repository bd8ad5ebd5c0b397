//! The HTTP proxy a check or a tenant's token endpoint connects through: the
//! `proxy`, `proxy_user` and `proxy_password` keys (in `global:`, on a check
//! and on a tenant), the value `env` (`HTTPS_PROXY`/`https_proxy`, with
//! `NO_PROXY`/`no_proxy` for the host reached) and `none`, validated and
//! resolved by one function ([`effective_proxy`]) into a [`Proxy`] per check
//! and a [`TokenProxy`] per tenant.
//!
//! It owns the rules and the `NO_PROXY` matching; it opens no connection
//! (`proto::proxy` speaks `CONNECT`). A password is only ever referenced
//! (`env:NAME`, `file:PATH`) and read when used: nothing here holds, prints
//! or puts in an error a password, and a proxy URL with inline credentials
//! is refused.

use std::fmt;

use super::error::{ConfigError, Loc};
use super::no_proxy::NoProxy;
use super::oauth::SecretSource;
use super::redact::redact_url;
use super::target::Target;
use super::validate::Validator;

/// An HTTP `CONNECT` proxy (RFC 9110 §9.3.6), as one check uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's `host:port`.
    pub address: Target,
    /// `Proxy-Authorization: Basic` credentials, if any.
    pub auth: Option<ProxyAuth>,
    /// Found in `HTTPS_PROXY`/`https_proxy` (`proxy: env`), not in the file.
    pub from_env: bool,
}

impl fmt::Display for Proxy {
    /// `http://host:port`: never any credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.address)
    }
}

/// Basic credentials for a proxy: the user, and where the password is kept
/// (its `Debug` names the variable or file, never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyAuth {
    pub user: String,
    pub password: SecretSource,
}

/// A `proxy:` value before it is applied to a check's host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// No proxy (`none`, or nothing configured).
    #[default]
    Direct,
    /// A proxy URL from the file.
    Fixed(Proxy),
    /// `env`: the environment's proxy (none when `HTTPS_PROXY` is unset),
    /// except for the hosts `NO_PROXY` names.
    Env { proxy: Option<Proxy>, no_proxy: NoProxy },
}

impl ProxySetting {
    /// The proxy a connection to `host:port` goes through, if any.
    pub fn for_target(&self, target: &Target) -> Option<Proxy> {
        match self {
            ProxySetting::Direct => None,
            ProxySetting::Fixed(p) => Some(p.clone()),
            ProxySetting::Env { proxy, no_proxy } => proxy.clone().filter(|_| !no_proxy.matches(&target.host, target.port)),
        }
    }
}

/// Parses a proxy URL: `http://host[:port][/]` (port 80 when absent, as
/// Go's and curl's HTTP proxies); an environment value may omit `http://`.
/// The message says why a URL is refused, with its credentials redacted.
pub fn parse_proxy_url(text: &str, from_env: bool) -> Result<Target, String> {
    let shown = redact_url(text);
    let full = if from_env && !text.contains("://") {
        format!("http://{text}")
    } else {
        text.to_string()
    };
    let url = url::Url::parse(&full)
        .map_err(|e| format!("`{shown}` is not a proxy URL ({e}); write it like http://proxy.corp.example:8080, `env` or `none`"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(format!(
                "`{shown}`: a TLS connection to the proxy itself is not supported; write the proxy as http://host:port (the tunnel through it is still TLS)"
            ));
        }
        other => {
            return Err(format!(
                "`{shown}` has the scheme `{other}`: only HTTP CONNECT proxies (http://) are supported"
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{shown}` carries credentials in the URL: put the user in `proxy_user` and the password in `proxy_password` (env:NAME or file:PATH), where they are never shown"
        ));
    }
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{shown}` names no proxy host"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` must be http://host:port only, without a path, query or fragment"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(Target {
        host: host.to_string(),
        port,
    })
}

/// The three keys as written (global section or one check), with where
/// each value is. `field` makes `global.proxy` or `checks[i].proxy`.
pub(super) struct ProxyKeys<'k> {
    pub proxy: Option<(String, Loc)>,
    pub user: Option<(String, Loc)>,
    pub password: Option<(String, Loc)>,
    pub field: &'k dyn Fn(&str) -> String,
    /// Errors do not show the source line (the `tenants` section, which may
    /// hold a secret).
    pub quiet: bool,
}

/// The proxy to a tenant's token endpoint, as reqwest is given it.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenProxy {
    /// `tenants[].proxy` written as a URL reqwest takes as is: `https://`,
    /// or with the credentials inline (as before `proxy_user` existed).
    /// Its `Debug` redacts them.
    Url(String),
    /// The effective proxy: the tenant's own, else `global.proxy`, with
    /// `NO_PROXY` applied to the authority's host.
    Proxy(Proxy),
}

impl fmt::Debug for TokenProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenProxy::Url(url) => write!(f, "Url({:?})", redact_url(url)),
            TokenProxy::Proxy(p) => f.debug_tuple("Proxy").field(p).finish(),
        }
    }
}

impl fmt::Display for TokenProxy {
    /// The URL without any credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenProxy::Url(url) => f.write_str(&redact_url(url)),
            TokenProxy::Proxy(p) => p.fmt(f),
        }
    }
}

/// The one resolution of a proxy, for checks and token endpoints alike: the
/// proxy a connection to `target` goes through, given the setting written
/// beside it (`own`, `None` when not written) and the one it falls back to
/// (`inherited`: `global.proxy`, or `None` for kinds that connect directly).
/// `proxy: env` applies `NO_PROXY` to `target`'s host here.
pub fn effective_proxy(own: Option<&ProxySetting>, inherited: Option<&ProxySetting>, target: &Target) -> Option<Proxy> {
    own.or(inherited).and_then(|s| s.for_target(target))
}

impl Validator<'_> {
    /// Validates a `proxy` with its credentials; `None` when `proxy` is not
    /// written (the caller decides what that means). An error shows its
    /// source line (a URL's credentials redacted) except for an inline
    /// password, which is never echoed.
    pub(super) fn proxy_setting(&self, keys: ProxyKeys<'_>) -> Result<Option<ProxySetting>, ConfigError> {
        let env = &self.proxy_env;
        let err = |loc: Loc, key: &str, msg: String| {
            if keys.quiet {
                ConfigError::new(self.file, None, loc, (keys.field)(key), msg)
            } else {
                self.err(loc, (keys.field)(key), msg)
            }
        };
        let Some((value, loc)) = keys.proxy else {
            if let Some((_, l)) = keys.user.as_ref().or(keys.password.as_ref()) {
                let key = if keys.user.is_some() { "proxy_user" } else { "proxy_password" };
                return Err(err(*l, key, format!("`{key}` needs a `proxy:` beside it (a proxy URL or `env`)")));
            }
            return Ok(None);
        };
        // The proxy itself first: its error is the likeliest.
        let fixed = match value.as_str() {
            "none" => {
                if let Some((_, l)) = keys.user.as_ref().or(keys.password.as_ref()) {
                    let key = if keys.user.is_some() { "proxy_user" } else { "proxy_password" };
                    return Err(err(
                        *l,
                        key,
                        "`proxy: none` connects directly: remove `proxy_user` and `proxy_password`".into(),
                    ));
                }
                None
            }
            "env" => None,
            url => Some(parse_proxy_url(url, false).map_err(|m| err(loc, "proxy", m))?),
        };
        let auth = match (&keys.user, &keys.password) {
            (None, None) => None,
            (Some((_, l)), None) => {
                return Err(err(
                    *l,
                    "proxy_user",
                    "`proxy_user` needs `proxy_password: env:NAME` or `file:PATH` beside it".into(),
                ));
            }
            (None, Some((_, l))) => return Err(err(*l, "proxy_password", "`proxy_password` needs `proxy_user` beside it".into())),
            (Some((user, ul)), Some((pw, pl))) => {
                if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                    return Err(err(
                        *ul,
                        "proxy_user",
                        "a proxy user is not empty and has no `:` or control character (RFC 7617)".into(),
                    ));
                }
                let password = SecretSource::parse(pw, self.base).ok_or_else(|| {
                    ConfigError::new(
                        self.file,
                        None,
                        *pl,
                        (keys.field)("proxy_password"),
                        "write the proxy password as env:NAME, file:PATH or dpapi:PATH (Windows), never inline",
                    )
                })?;
                password.read().map_err(|e| err(*pl, "proxy_password", e))?;
                Some(ProxyAuth {
                    user: user.clone(),
                    password,
                })
            }
        };
        let setting = match (value.as_str(), fixed) {
            (_, Some(address)) => ProxySetting::Fixed(Proxy {
                address,
                auth,
                from_env: false,
            }),
            ("env", None) => {
                let proxy = match &env.https_proxy {
                    Some(url) => Some(Proxy {
                        address: parse_proxy_url(url, true).map_err(|m| err(loc, "proxy", format!("HTTPS_PROXY: {m}")))?,
                        auth,
                        from_env: true,
                    }),
                    None => None,
                };
                ProxySetting::Env {
                    proxy,
                    no_proxy: env.no_proxy.as_deref().map(NoProxy::parse).unwrap_or_default(),
                }
            }
            _ => ProxySetting::Direct,
        };
        Ok(Some(setting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16) -> Target {
        Target { host: host.into(), port }
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(parse_proxy_url("http://proxy.corp:3128", false), Ok(t("proxy.corp", 3128)));
        assert_eq!(parse_proxy_url("http://proxy.corp/", false), Ok(t("proxy.corp", 80)));
        assert_eq!(parse_proxy_url("http://[::1]:8080", false), Ok(t("::1", 8080)));
        assert_eq!(parse_proxy_url("proxy.corp:8080", true), Ok(t("proxy.corp", 8080)));
        let e = parse_proxy_url("http://u:s3cret@proxy.corp:8080", false).unwrap_err();
        assert!(e.contains("proxy_user") && !e.contains("s3cret"), "{e}");
        let e = parse_proxy_url("u:s3cret@proxy.corp:8080", true).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(
            parse_proxy_url("https://proxy.corp:8080", false)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_proxy_url("socks5://proxy.corp:1080", false).is_err());
        assert!(parse_proxy_url("http://proxy.corp:8080/x", false).is_err());
        assert!(parse_proxy_url("proxy.corp:8080", false).is_err());
    }

    #[test]
    fn no_proxy_matching() {
        let n =
            NoProxy::parse(" Contoso.COM, .internal.example,*.corp.example, 192.0.2.7, 10.0.0.0/8, [2001:db8::1], ::2, mail.example:993 ");
        assert!(n.matches("contoso.com", 443));
        assert!(n.matches("login.contoso.com.", 443));
        assert!(!n.matches("notcontoso.com", 443));
        assert!(!n.matches("internal.example", 443), "a leading dot means subdomains only");
        assert!(n.matches("a.internal.example", 443));
        assert!(n.matches("x.corp.example", 443) && !n.matches("corp.example", 443));
        assert!(n.matches("192.0.2.7", 443) && !n.matches("192.0.2.8", 443));
        assert!(n.matches("10.1.2.3", 443) && !n.matches("11.0.0.1", 443));
        assert!(n.matches("2001:db8::1", 443) && n.matches("::2", 1));
        assert!(n.matches("mail.example", 993) && !n.matches("mail.example", 587));
        assert!(!n.matches("outlook.office365.com", 443));
        assert!(NoProxy::parse("*").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
    }

    /// A tenant's token endpoint proxy as loaded, with `HTTPS_PROXY` and
    /// `NO_PROXY` given (not the process's).
    fn token_proxy(global: &str, tenant: &str, https_proxy: Option<&str>, no_proxy: Option<&str>) -> Option<TokenProxy> {
        let text = format!(
            "global:\n{global}tenants:\n  - name: contoso\n    tenant_id: contoso.onmicrosoft.com\n    \
             client_id: 11111111-2222-3333-4444-555555555555\n{tenant}checks:\n  - name: tcp\n    kind: tcp\n    target: 127.0.0.1:1\n"
        );
        let path = std::path::Path::new("/nonexistent/config.yaml");
        let mut v = Validator::new(path, &text);
        v.proxy_env = super::super::ProxyEnv {
            https_proxy: https_proxy.map(str::to_string),
            no_proxy: no_proxy.map(str::to_string),
        };
        let raw = super::super::raw::parse(path, &text).unwrap();
        let config = v.validate(raw, &crate::checks::schemas()).unwrap();
        config.tenants[0].proxy.clone()
    }

    #[test]
    fn the_token_endpoint_takes_the_tenants_proxy_else_the_global_one() {
        let fixed = |host: &str, port| {
            Some(TokenProxy::Proxy(Proxy {
                address: t(host, port),
                auth: None,
                from_env: false,
            }))
        };
        let global = "  proxy: http://global.corp:3128\n";
        assert_eq!(token_proxy("  timeout: 5s\n", "", None, None), None);
        assert_eq!(token_proxy(global, "", None, None), fixed("global.corp", 3128));
        assert_eq!(token_proxy(global, "    proxy: none\n", None, None), None);
        assert_eq!(
            token_proxy(global, "    proxy: http://own.corp:8080\n", None, None),
            fixed("own.corp", 8080)
        );
        // As before `proxy_user`: a URL with credentials or https:// is kept as written.
        let inline = token_proxy(global, "    proxy: http://u:canary-inline@own.corp:8080\n", None, None);
        assert_eq!(inline, Some(TokenProxy::Url("http://u:canary-inline@own.corp:8080".into())));
        let shown = format!("{:?} {}", inline.as_ref().unwrap(), inline.as_ref().unwrap());
        assert!(!shown.contains("canary"), "{shown}");
        // `env`: HTTPS_PROXY, except when NO_PROXY names the authority's host.
        let env = Some(TokenProxy::Proxy(Proxy {
            address: t("env.corp", 3128),
            auth: None,
            from_env: true,
        }));
        for (g, tn) in [("  proxy: env\n", ""), (global, "    proxy: env\n")] {
            assert_eq!(token_proxy(g, tn, Some("http://env.corp:3128"), None), env);
            assert_eq!(token_proxy(g, tn, Some("http://env.corp:3128"), Some("example.com")), env);
            assert_eq!(token_proxy(g, tn, Some("http://env.corp:3128"), Some(".microsoftonline.com")), None);
            assert_eq!(
                token_proxy(g, tn, Some("http://env.corp:3128"), Some("login.microsoftonline.com:443")),
                None
            );
            assert_eq!(token_proxy(g, tn, None, None), None);
        }
        // A national cloud's authority is what NO_PROXY is matched against.
        let cloud = "    authority: https://login.chinacloudapi.cn\n    proxy: env\n";
        assert_eq!(
            token_proxy("  timeout: 5s\n", cloud, Some("env.corp:3128"), Some("microsoftonline.com")),
            env
        );
        assert_eq!(
            token_proxy("  timeout: 5s\n", cloud, Some("env.corp:3128"), Some("chinacloudapi.cn")),
            None
        );
    }

    #[test]
    fn env_setting_applies_no_proxy_per_target() {
        let proxy = Proxy {
            address: t("proxy.corp", 3128),
            auth: None,
            from_env: true,
        };
        let s = ProxySetting::Env {
            proxy: Some(proxy.clone()),
            no_proxy: NoProxy::parse("localhost,127.0.0.1"),
        };
        assert_eq!(s.for_target(&t("outlook.office365.com", 993)), Some(proxy.clone()));
        assert_eq!(s.for_target(&t("127.0.0.1", 993)), None);
        assert_eq!(ProxySetting::Direct.for_target(&t("x", 1)), None);
        assert_eq!(proxy.to_string(), "http://proxy.corp:3128");
    }
}
