//! The proxy environment (`HTTPS_PROXY`, `NO_PROXY`) that `proxy: env`
//! reads, and `NO_PROXY` matching. Reads the process environment once per
//! load; knows nothing else of the configuration.

use std::net::IpAddr;

/// The environment variables `proxy: env` reads, uppercase first (as Go's
/// `ProxyFromEnvironment`, which blackbox_exporter uses).
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// This process's environment.
    pub fn from_process() -> ProxyEnv {
        let first = |names: [&str; 2]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
        ProxyEnv {
            https_proxy: first(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: first(["NO_PROXY", "no_proxy"]),
        }
    }
}

/// `NO_PROXY`: the hosts reached directly although `HTTPS_PROXY` is set.
/// Entries are comma-separated: `*` (every host), an IP address or a CIDR
/// block, `name` (that name and its subdomains), `.name` or `*.name` (its
/// subdomains only); any of them may end in `:port`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    Ip(IpAddr, Option<u16>),
    Net(IpAddr, u8),
    Domain {
        name: String,
        subdomains_only: bool,
        port: Option<u16>,
    },
}

impl NoProxy {
    pub fn parse(text: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for entry in text.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                out.all = true;
                continue;
            }
            if let Some((ip, len)) = entry.split_once('/')
                && let (Ok(ip), Ok(len)) = (ip.parse::<IpAddr>(), len.parse::<u8>())
            {
                out.entries.push(NoProxyEntry::Net(ip, len));
                continue;
            }
            let (host, port) = split_port(&entry);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                out.entries.push(NoProxyEntry::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            let subdomains_only = host.starts_with('.');
            let name = host.trim_start_matches('.').trim_end_matches('.').to_string();
            if !name.is_empty() {
                out.entries.push(NoProxyEntry::Domain {
                    name,
                    subdomains_only,
                    port,
                });
            }
        }
        out
    }

    /// Whether a connection to `host:port` bypasses the proxy.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        self.entries.iter().any(|e| match (e, ip) {
            (NoProxyEntry::Ip(net, p), Some(ip)) => *net == ip && port_ok(p),
            (NoProxyEntry::Net(net, len), Some(ip)) => in_net(ip, *net, *len),
            (
                NoProxyEntry::Domain {
                    name,
                    subdomains_only,
                    port: p,
                },
                None,
            ) => {
                let sub = host.strip_suffix(name.as_str()).is_some_and(|rest| rest.ends_with('.'));
                port_ok(p) && (sub || (!subdomains_only && host == *name))
            }
            _ => false,
        })
    }
}

/// `host:port` split when the part after the last colon is a port (an IPv6
/// address without brackets stays whole).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if entry.parse::<IpAddr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => match port.parse::<u16>() {
            Ok(p) => (host, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}
