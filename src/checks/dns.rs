//! `kind: dns`: does the name resolve, through the system resolver or the
//! configured name servers? (The guide's "URLs" item: `*.office365.com`,
//! `login.microsoftonline.com`.) NXDOMAIN, SERVFAIL, REFUSED, an empty answer
//! and a silent server are distinct reasons.

use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType as HickoryType};
use hickory_resolver::{Resolver, TokioResolver};

use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{CheckConfig, CheckSettings, RecordType};
use crate::observation::{Failure, Probe};
use crate::proto::net;
use crate::reason::{Phase, Reason};

pub struct DnsCheck {
    resolver: TokioResolver,
    name: Name,
    record: HickoryType,
}

pub fn build(cfg: &CheckConfig, _ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let CheckSettings::Dns { query, record, servers } = &cfg.settings else {
        return Err(BuildError::Mismatch);
    };
    // Fully qualified, so search domains never turn a failure into a success.
    let fqdn = if query.ends_with('.') { query.clone() } else { format!("{query}.") };
    let name = Name::from_ascii(&fqdn).map_err(|e| BuildError::Resolver(format!("`{query}`: {e}")))?;
    let mut builder = if servers.is_empty() {
        Resolver::builder_tokio().map_err(|e| BuildError::Resolver(e.to_string()))?
    } else {
        let config = ResolverConfig::from_name_servers(servers.iter().map(name_server).collect());
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
    };
    let opts = builder.options_mut();
    // One try per run, bounded by the check's timeout: the schedule is the retry.
    opts.attempts = 1;
    opts.timeout = cfg.timeout;
    let resolver = builder.build().map_err(|e| BuildError::Resolver(e.to_string()))?;
    Ok(Box::new(DnsCheck {
        resolver,
        name,
        record: hickory_type(*record),
    }))
}

fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

fn hickory_type(r: RecordType) -> HickoryType {
    match r {
        RecordType::A => HickoryType::A,
        RecordType::Aaaa => HickoryType::AAAA,
        RecordType::Cname => HickoryType::CNAME,
        RecordType::Mx => HickoryType::MX,
        RecordType::Txt => HickoryType::TXT,
    }
}

impl Check for DnsCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            probe.enter(Phase::Resolve);
            // Each run asks the network, never our own cache.
            self.resolver.clear_cache();
            let lookup = self
                .resolver
                .lookup(self.name.clone(), self.record)
                .await
                .map_err(|e| self.failure(&e))?;
            let answers = lookup.answers().iter().filter(|r| r.record_type() == self.record).count() as u64;
            probe.facts.dns_answers = Some(answers);
            if answers == 0 {
                return Err(Failure::new(
                    Reason::DnsNoAnswer,
                    format!("no {} record for {}", self.record, self.name),
                ));
            }
            Ok(())
        })
    }
}

impl DnsCheck {
    fn failure(&self, e: &NetError) -> Failure {
        let (reason, detail) = match e {
            NetError::Dns(DnsError::NoRecordsFound(nr)) => (
                rcode_reason(nr.response_code),
                format!("{} for {} {}", nr.response_code, self.name, self.record),
            ),
            NetError::Dns(DnsError::ResponseCode(code)) => (rcode_reason(*code), format!("{code} for {} {}", self.name, self.record)),
            NetError::Timeout => (Reason::DnsTimeout, format!("no answer for {} {}", self.name, self.record)),
            // No socket for the query: this machine's limits, not the resolver.
            NetError::Io(io) if net::is_local_exhaustion(io) => (
                Reason::LocalResourceExhausted,
                format!("{} {}: cannot open a socket: {io}", self.name, self.record),
            ),
            other => (Reason::DnsError, format!("{} {}: {other}", self.name, self.record)),
        };
        Failure::new(reason, detail)
    }
}

fn rcode_reason(code: ResponseCode) -> Reason {
    match code {
        ResponseCode::NXDomain => Reason::DnsNxdomain,
        ResponseCode::NoError => Reason::DnsNoAnswer,
        ResponseCode::ServFail => Reason::DnsServfail,
        ResponseCode::Refused => Reason::DnsRefused,
        _ => Reason::DnsError,
    }
}
