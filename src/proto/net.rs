//! Opening TCP connections: name resolution through the system resolver and
//! connect over every resolved address, RFC 8305 style (families
//! interleaved, staggered attempts, first success wins), with each failure
//! classified into a [`Reason`]; a descriptor or buffer shortage of this
//! machine is `local_resource_exhausted`, never a network reason. Nothing
//! here reads or writes a byte of a protocol, or times a whole connect out
//! (the check runner does).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::config::Target;
use crate::observation::{Failure, Probe};
use crate::reason::{Phase, Reason};

/// RFC 8305's "Connection Attempt Delay": how long one attempt runs alone
/// before the next address is tried beside it.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Resolves `target` (phase `resolve`, skipped for IP literals) and connects
/// (phase `connect`) the way RFC 8305 describes: address families
/// interleaved, IPv6 first; a new attempt every [`ATTEMPT_DELAY`] while the
/// earlier ones are pending, or at once when one fails; the first to connect
/// wins and the others are dropped. Records the family that connected.
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
    match connect_any(addrs, ATTEMPT_DELAY).await {
        Ok((stream, addr)) => {
            probe.facts.address_family = Some(family(&addr));
            // Commands are small and wait for a reply: never delay them.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Err(e) => Err(Failure::new(connect_reason(&e.error), e.to_string())),
    }
}

/// `ipv4` or `ipv6`, as the address family fact and label say it.
pub fn family(addr: &SocketAddr) -> &'static str {
    if addr.is_ipv6() { "ipv6" } else { "ipv4" }
}

/// Why no address accepted: the error that says most (this machine's own
/// shortage first, else the last attempt's), and how many were tried.
#[derive(Debug, thiserror::Error)]
#[error("connect to {addr}: {error}{}", if *.tried > 1 { format!(" ({} addresses tried)", .tried) } else { String::new() })]
pub struct ConnectError {
    pub addr: SocketAddr,
    pub error: io::Error,
    pub tried: usize,
}

/// RFC 8305 section 4: the families interleaved, IPv6 first, each family in
/// the resolver's order.
pub fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let (v6, v4): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs.into_iter().partition(SocketAddr::is_ipv6);
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut v6, mut v4) = (v6.into_iter(), v4.into_iter());
    loop {
        match (v6.next(), v4.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Races connection attempts to `addrs` (see [`connect`]), starting one
/// every `delay` while none has finished; returns the first stream and its
/// address. Attempts still pending are dropped (their sockets closed) on
/// return. Never gives up on its own: the check runner's timeout bounds it.
pub async fn connect_any(addrs: Vec<SocketAddr>, delay: Duration) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let mut queue = interleave(addrs).into_iter();
    let mut attempts = JoinSet::new();
    let mut failed: Option<(SocketAddr, io::Error)> = None;
    let mut tried = 0;
    let mut start = |attempts: &mut JoinSet<_>, addr: SocketAddr| {
        tried += 1;
        attempts.spawn(async move { (addr, TcpStream::connect(addr).await) });
    };
    loop {
        if attempts.is_empty() {
            match queue.next() {
                Some(addr) => start(&mut attempts, addr),
                None => {
                    let (addr, error) = failed.unwrap_or_else(|| {
                        (
                            SocketAddr::from(([0, 0, 0, 0], 0)),
                            io::Error::new(io::ErrorKind::NotFound, "no address to connect to"),
                        )
                    });
                    return Err(ConnectError { addr, error, tried });
                }
            }
        }
        let more = queue.len() > 0;
        tokio::select! {
            done = attempts.join_next() => match done {
                Some(Ok((addr, Ok(stream)))) => return Ok((stream, addr)),
                Some(Ok((addr, Err(error)))) => {
                    // This machine's own shortage says most; it stays the answer.
                    if !failed.as_ref().is_some_and(|(_, e)| is_local_exhaustion(e)) {
                        failed = Some((addr, error));
                    }
                    if let Some(next) = queue.next() {
                        start(&mut attempts, next);
                    }
                }
                // An attempt's task panicked or was cancelled: only its address is lost.
                Some(Err(_)) | None => {}
            },
            _ = tokio::time::sleep(delay), if more => {
                if let Some(next) = queue.next() {
                    start(&mut attempts, next);
                }
            }
        }
    }
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
    use test_support::net::black_hole;
    use tokio::net::TcpListener;

    #[test]
    fn families_interleave_ipv6_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave(vec![
            a("192.0.2.1:1"),
            a("192.0.2.2:1"),
            a("[2001:db8::1]:1"),
            a("192.0.2.3:1"),
            a("[2001:db8::2]:1"),
        ]);
        let want = vec![
            a("[2001:db8::1]:1"),
            a("192.0.2.1:1"),
            a("[2001:db8::2]:1"),
            a("192.0.2.2:1"),
            a("192.0.2.3:1"),
        ];
        assert_eq!(got, want);
        assert_eq!(interleave(vec![a("192.0.2.1:1")]), vec![a("192.0.2.1:1")]);
    }

    /// A black-holed first address (IPv6, as on a server whose IPv6 is broken)
    /// costs one attempt delay, not the check's timeout: the IPv4 address connects.
    #[tokio::test]
    async fn a_black_holed_first_address_does_not_cost_the_connection() {
        let hole = black_hole(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])).await;
        let good = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let good_addr = good.local_addr().expect("addr");
        // The hole really drops: an attempt to it alone is still pending after
        // the good address has connected (bounded by the outer timeout below).
        let run = async {
            let mut alone = std::pin::pin!(TcpStream::connect(hole.addr));
            tokio::select! {
                r = &mut alone => panic!("the black hole answered: {r:?}"),
                r = connect_any(vec![good_addr, hole.addr], ATTEMPT_DELAY) => r,
            }
        };
        let (stream, addr) = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("a hang, not a result")
            .expect("connected");
        assert_eq!(addr, good_addr);
        assert_eq!(family(&addr), "ipv4");
        assert_eq!(stream.peer_addr().expect("peer"), good_addr);
        let (_accepted, _) = good.accept().await.expect("the good server saw it");
    }

    /// A refused first address moves on at once, without the attempt delay
    /// (an hour here: only an immediate move can connect).
    #[tokio::test]
    async fn a_refused_address_starts_the_next_at_once() {
        let refused = {
            let l = std::net::TcpListener::bind("[::1]:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let good = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let good_addr = good.local_addr().expect("addr");
        let run = connect_any(vec![good_addr, refused], Duration::from_secs(3600));
        let (_, addr) = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("waited for the delay")
            .expect("connected");
        assert_eq!(addr, good_addr);
        // Every address refused: the error names the last one and the count.
        let e = connect_any(vec![refused, refused], Duration::from_secs(3600))
            .await
            .expect_err("refused");
        assert_eq!(connect_reason(&e.error), Reason::ConnectRefused);
        assert_eq!(e.tried, 2);
        assert!(e.to_string().contains("2 addresses tried"), "{e}");
    }

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
