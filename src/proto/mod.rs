//! Protocol plumbing shared by the checks: connecting over every resolved
//! address (RFC 8305 style) with classified errors ([`net`]), TLS client
//! setup and certificate facts ([`tls`]), tunnels through an HTTP proxy
//! (`CONNECT`, [`proxy`]), the bounded line codec every mail protocol
//! reads through, each reply within a byte budget ([`lines`]), a
//! bounded HTTP/1.1 client for `https` checks ([`http`]), Exchange's SMTP
//! replies named ([`smtp_replies`]) and the dates mail servers send
//! ([`mail_dates`]).
//!
//! Nothing here schedules, times out or records metrics: the check runner
//! owns the deadline, so every read here may simply wait.

pub mod http;
pub mod lines;
pub mod mail_dates;
pub mod net;
pub mod proxy;
pub mod smtp_replies;
pub mod tls;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a check talks over: TCP, or TLS on top of TCP.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}

/// A boxed stream, so a connection can be upgraded to TLS in place.
pub type BoxStream = Box<dyn AsyncStream>;
