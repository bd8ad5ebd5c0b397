//! Loopback sockets for tests: free ports, and a black hole (an address
//! that silently drops connection attempts).
//!
//! Owns no server: the servers that answer are [`crate::servers`]'s.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A port on 127.0.0.1 that nothing listens on right now (bound, then
/// released): a closed port, or one for a server to bind next.
pub fn free_port() -> u16 {
    let [port] = free_ports::<1>().expect("bind 127.0.0.1:0");
    port
}

/// `N` distinct free ports on 127.0.0.1 (bound together, then released).
pub fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    let mut ports = [0u16; N];
    for (p, l) in ports.iter_mut().zip(&listeners) {
        *p = l.local_addr()?.port();
    }
    Ok(ports)
}

/// A loopback address that silently drops connection attempts, as a
/// firewall's DROP does: a listener that never accepts, its accept queue
/// (backlog 0: one connection) filled by a connection it holds. Linux drops a
/// SYN to a full queue without answering, so a client's connect hangs until
/// it gives up. Dropping it frees the port.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _filler: TcpStream,
}

/// A [`BlackHole`] on `ip` (a loopback address of either family).
pub async fn black_hole(ip: IpAddr) -> BlackHole {
    let socket = if ip.is_ipv6() { TcpSocket::new_v6() } else { TcpSocket::new_v4() }.expect("socket");
    socket.bind(SocketAddr::new(ip, 0)).expect("bind the black hole");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("local addr");
    let filler = TcpStream::connect(addr).await.expect("fill the accept queue");
    BlackHole {
        addr,
        _listener: listener,
        _filler: filler,
    }
}
