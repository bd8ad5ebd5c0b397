//! Opening TCP connections: name resolution through the system resolver and
//! connect, with each failure classified into a [`Reason`]; a descriptor or
//! buffer shortage of this machine is `local_resource_exhausted`, never a
//! network reason. Nothing here reads or writes a byte of a protocol.

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
            let found = tokio::net::lookup_host((target.host.as_str(), target.port)).await.map_err(|e| {
                // getaddrinfo's EAI_SYSTEM carries errno: no socket for the query is not a DNS answer.
                let reason = if is_local_exhaustion(&e) {
                    Reason::LocalResourceExhausted
                } else {
                    Reason::ResolveFailed
                };
                Failure::new(reason, format!("cannot resolve {}: {e}", target.host))
            })?;
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

/// The OS errors that say this machine ran out of something a connection
/// needs, not that the network failed: ENFILE, EMFILE, ENOBUFS (Linux
/// numbering; ENOBUFS is 55 on the BSDs and macOS), WSAEMFILE, WSAENOBUFS.
#[cfg(target_os = "linux")]
const LOCAL_EXHAUSTION: &[i32] = &[23, 24, 105];
#[cfg(windows)]
const LOCAL_EXHAUSTION: &[i32] = &[10024, 10055];
#[cfg(not(any(target_os = "linux", windows)))]
const LOCAL_EXHAUSTION: &[i32] = &[23, 24, 55];

/// Whether `e` says this machine is out of file descriptors or socket
/// buffers: a local problem, never the network's.
pub fn is_local_exhaustion(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(|code| LOCAL_EXHAUSTION.contains(&code))
}

/// Maps a connect error to its reason.
pub fn connect_reason(e: &io::Error) -> Reason {
    if is_local_exhaustion(e) {
        return Reason::LocalResourceExhausted;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_is_local_not_the_network() {
        for code in LOCAL_EXHAUSTION {
            let e = io::Error::from_raw_os_error(*code);
            assert_eq!(connect_reason(&e), Reason::LocalResourceExhausted, "{e}");
        }
        #[cfg(target_os = "linux")]
        {
            let emfile = io::Error::from_raw_os_error(24);
            assert!(emfile.to_string().contains("Too many open files"), "{emfile}");
            assert_eq!(connect_reason(&emfile), Reason::LocalResourceExhausted);
        }
        assert_eq!(connect_reason(&io::ErrorKind::ConnectionRefused.into()), Reason::ConnectRefused);
        assert_eq!(connect_reason(&io::ErrorKind::TimedOut.into()), Reason::ConnectTimeout);
    }
}
