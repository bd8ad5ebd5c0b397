//! `kind: dns`: does the name resolve, through the system resolver or the
//! configured name servers? (The guide's "URLs" item: `*.office365.com`,
//! `login.microsoftonline.com`.) NXDOMAIN, SERVFAIL, REFUSED, an empty answer
//! and a silent server are distinct reasons.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType as HickoryType};
use hickory_resolver::{Resolver, TokioResolver};

use serde::Deserialize;

use super::kind::{self, Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check, CheckMeta};
use crate::config::{CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, Mailbox, MailboxUse};
use crate::observation::{Failure, Probe};
use crate::proto::net;
use crate::reason::{Kind, Phase, Reason};

pub const KIND: Kind = Kind::new("dns");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &["query", "record", "dns_servers"],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide {
        target: guide_target,
        ..KindGuide::network(Covers::Nothing)
    },
};

/// A `dns` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsSettings {
    pub query: String,
    pub record: RecordType,
    /// Empty: the system resolver.
    pub servers: Vec<SocketAddr>,
}

impl KindSettings for DnsSettings {
    fn target_label(&self) -> String {
        format!("{}/{}", self.query, self.record.as_str())
    }
}

/// DNS record types the `dns` check can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "TXT")]
    Txt,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
        }
    }
}

/// `query` (required), `record` (default `A`), `dns_servers` (default the global ones).
fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    let Some((query, loc)) = keys.take::<String>("query")? else {
        return Err(keys.missing("query", "a dns check needs `query: host.name`"));
    };
    if query.is_empty() || query.len() > 253 || query.contains(char::is_whitespace) {
        return Err(keys.error(loc, "query", format!("`{query}` is not a DNS name")));
    }
    let servers = keys.dns_servers()?;
    let record = keys.take::<RecordType>("record")?.map_or(RecordType::A, |(r, _)| r);
    Ok(Arc::new(DnsSettings { query, record, servers }))
}

/// The name asked for; no host:port to split.
fn guide_target(meta: &CheckMeta, _mailbox: Option<&Mailbox>) -> kind::GuideTarget {
    kind::GuideTarget {
        target: meta.target.clone(),
        host: meta.target.split('/').next().unwrap_or_default().to_string(),
        port: String::new(),
    }
}

pub struct DnsCheck {
    resolver: TokioResolver,
    name: Name,
    record: HickoryType,
}

pub fn build(cfg: &CheckConfig, _ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let DnsSettings { query, record, servers } = cfg.settings::<DnsSettings>().ok_or(BuildError::Mismatch)?;
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
