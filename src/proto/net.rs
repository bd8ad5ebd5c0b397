//! Opening TCP connections: name resolution through the system resolver and
//! connect, with each failure classified into a [`Reason`].

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;

use crate::config::Target;
use crate::observation::{Failure, Probe};
use crate::reason::{Phase, Reason};

/// Resolves `target` (phase `resolve`, skipped for IP literals) and connects
/// to the first address that accepts (phase `connect`).
pub async fn connect(probe: &mut Probe, target: &Target) -> Result<TcpStream, Failure> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => {
            probe.enter(Phase::Resolve);
            let found = tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| Failure::new(Reason::ResolveFailed, format!("cannot resolve {}: {e}", target.host)))?;
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err(Failure::new(Reason::ResolveFailed, format!("{} has no address", target.host)));
            }
            addrs
        }
    };
    probe.enter(Phase::Connect);
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Commands are small and wait for a reply: never delay them.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.unwrap_or_else(|| (SocketAddr::from(([0, 0, 0, 0], 0)), io::ErrorKind::NotFound.into()));
    Err(Failure::new(connect_reason(&e), format!("connect to {addr}: {e}")))
}

/// Maps a connect error to its reason.
pub fn connect_reason(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Reason::ConnectRefused,
        io::ErrorKind::TimedOut => Reason::ConnectTimeout,
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable | io::ErrorKind::AddrNotAvailable => Reason::NetworkUnreachable,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Reason::ConnectionClosed,
        // EPERM from a local firewall and anything stranger: the path is
        // blocked; the log line carries the exact error.
        _ => Reason::NetworkUnreachable,
    }
}
