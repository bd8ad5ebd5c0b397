//! The series that exist once per configured check, and each check's last
//! run. Owns those families' names, labels and values; must not hold a label
//! value that is not a configured name, a fixed enum, a watched capability
//! or a field of the certificate a check currently sees.
//!
//! Why not prometheus-client's families for these: a service provider's agent
//! runs thousands of checks. Encoding every sample through the generic
//! encoder took more than twice as long per scrape (docs/development.md, Performance),
//! and its per-series structures (or lines kept ready-encoded) cost the
//! agent more memory than the checks themselves. Here each check keeps compact values; a scrape
//! takes a snapshot (one reference per check) and writes the lines in
//! chunks as the body is sent (`cargo bench --bench render`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Format, unix_seconds};
use crate::checks::CheckMeta;
use crate::observation::{CertSummary, Observation};
use crate::reason::Reason;

/// Longest certificate subject/issuer kept in a label.
const MAX_CERT_LABEL: usize = 256;

/// One per-check metric family: its name (after the prefix), type and help.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

macro_rules! families {
    ($($id:ident => ($name:literal, $kind:literal, $help:literal),)+) => {
        #[derive(Clone, Copy)]
        #[repr(usize)]
        enum F { $($id,)+ }
        const FAMILIES: &[Family] = &[$(Family { name: $name, kind: $kind, help: $help },)+];
        const ALL: &[F] = &[$(F::$id,)+];
    };
}

// In exposition order; the order of `F` and `FAMILIES` is the same by construction.
families! {
    Success => ("check_success", "gauge", "1 if the last run of the check succeeded, 0 if it failed"),
    LastDuration => ("check_last_duration_seconds", "gauge", "Duration of the check's last run"),
    PhaseLastDuration => ("check_phase_last_duration_seconds", "gauge",
        "Duration of each protocol step in the check's last run; a step the run did not reach has no series"),
    Runs => ("check_runs", "counter", "Check runs finished"),
    Failures => ("check_failures", "counter", "Failed check runs by reason"),
    LastRun => ("check_last_run_timestamp_seconds", "gauge", "When the check last finished a run"),
    LastSuccess => ("check_last_success_timestamp_seconds", "gauge", "When the check last succeeded"),
    CertExpiry => ("tls_earliest_cert_expiry_timestamp_seconds", "gauge",
        "Earliest notAfter in the certificate chain the server presented"),
    TlsVersion => ("tls_version_info", "gauge", "TLS version negotiated on the last successful handshake"),
    CertInfo => ("tls_cert_info", "gauge",
        "Leaf certificate the server presented; an issuer change means TLS inspection or a new CA"),
    Capability => ("capability_advertised", "gauge",
        "1 if the server advertised the capability on the last run that got that far"),
    DnsAnswers => ("dns_answers", "gauge", "Records of the queried type in the last DNS answer"),
    AddressFamily => ("check_connected_address_family_info", "gauge",
        "Address family (ipv4 or ipv6) of the last connection the check opened"),
    HttpStatus => ("http_status_code", "gauge", "HTTP status of the last answer an https check got"),
    TenantInfo => ("tenant_info", "gauge",
        "Directory (tenant) id that the tenant's OpenID metadata named on the tenant check's last successful run"),
}

const N: usize = FAMILIES.len();

/// What one check currently exposes: its last run (also what the status
/// page shows) and what accumulates or sticks across runs.
#[derive(Clone)]
pub(super) struct CheckSeries {
    pub(super) meta: Arc<CheckMeta>,
    /// `check="<name>",kind="<kind>",target="<target>"`, escaped once when
    /// the check is declared (a scrape writes them on every line, from the
    /// copy its snapshot lays out in one block)...
    labels: Box<str>,
    /// ...where `check="<name>"` ends...
    check_end: usize,
    /// ...and where `kind="<kind>"` ends.
    kind_end: usize,
    /// The last run; its success, durations and phases are the check's series.
    pub(super) last: Option<Observation>,
    runs: u64,
    failures: Vec<(Reason, u64)>,
    last_success: Option<f64>,
    /// From the last run that completed a TLS handshake.
    cert_expiry: Option<i64>,
    tls_version: Option<&'static str>,
    /// Subject, issuer and SHA-256 fingerprint of the leaf (escaped and
    /// clipped when written).
    cert: Kept<CertSummary>,
    /// From the last run that got as far as the capabilities.
    capabilities: Kept<Vec<(&'static str, bool)>>,
    dns_answers: Option<u64>,
    /// From the last run that connected.
    address_family: Option<&'static str>,
    /// From the last run that got an HTTP answer.
    http_status: Option<u16>,
    /// Tenant name and directory id from the last run that found them, as
    /// escaped label values.
    tenant: Option<Box<(String, String)>>,
}

impl CheckSeries {
    fn new(meta: &Arc<CheckMeta>) -> Self {
        let mut labels = format!("check=\"{}\"", escape(&meta.name));
        let check_end = labels.len();
        labels.push_str(",kind=\"");
        labels.push_str(meta.kind.as_str());
        labels.push('"');
        let kind_end = labels.len();
        labels.push_str(",target=\"");
        labels.push_str(&escape(&meta.target));
        labels.push('"');
        CheckSeries {
            labels: labels.into_boxed_str(),
            check_end,
            kind_end,
            meta: meta.clone(),
            last: None,
            runs: 0,
            failures: Vec::new(),
            last_success: None,
            cert_expiry: None,
            tls_version: None,
            cert: Kept::Nothing,
            capabilities: Kept::Nothing,
            dns_answers: None,
            address_family: None,
            http_status: None,
            tenant: None,
        }
    }

    fn record(&mut self, obs: Observation) {
        self.runs += 1;
        if let Err(f) = &obs.outcome {
            match self.failures.iter_mut().find(|(r, _)| *r == f.reason) {
                Some((_, n)) => *n += 1,
                None => self.failures.push((f.reason, 1)),
            }
        } else {
            self.last_success = Some(unix_seconds(obs.finished_at));
        }
        // TLS facts replace the previous ones; a run that did not get as far keeps them.
        if let Some(tls) = &obs.facts.tls {
            if tls.earliest_expiry.is_some() {
                self.cert_expiry = tls.earliest_expiry;
            }
            self.tls_version = Some(tls.version);
        }
        let last_facts = self.last.as_ref().map(|o| &o.facts);
        let last_leaf = last_facts.and_then(|f| f.tls.as_ref()).and_then(|t| t.leaf.as_ref());
        self.cert
            .follow(obs.facts.tls.as_ref().map(|t| t.leaf.is_some()), last_leaf, |leaf| CertSummary {
                subject: clip(&leaf.subject).to_string(),
                issuer: clip(&leaf.issuer).to_string(),
                fingerprint_sha256: leaf.fingerprint_sha256.clone(),
            });
        let last_caps = last_facts.and_then(|f| f.capabilities.as_ref());
        self.capabilities
            .follow(obs.facts.capabilities.as_ref().map(|_| true), last_caps, Clone::clone);
        if obs.facts.address_family.is_some() {
            self.address_family = obs.facts.address_family;
        }
        if obs.facts.http_status.is_some() {
            self.http_status = obs.facts.http_status;
        }
        if let Some(t) = &obs.facts.tenant {
            self.tenant = Some(Box::new((escape(&t.tenant).into_owned(), escape(&t.directory_id).into_owned())));
        }
        if let Some(n) = obs.facts.dns_answers {
            self.dns_answers = Some(n);
        } else if self.meta.kind == crate::checks::dns::KIND {
            self.dns_answers = Some(0);
        }
        self.last = Some(obs);
    }
}

/// A fact that sticks across runs that do not get as far as it: read from
/// the last run while that run has it (most runs of a healthy check do), and
/// copied out only when a later run has not. Each check keeps its facts
/// once, not once in its last run and again here (at 10,000 TLS checks the
/// second copy of the certificate fields alone was about 2.5 MiB).
#[derive(Clone)]
enum Kept<T> {
    /// No run got as far, or the last that did had none.
    Nothing,
    /// In the last run's facts.
    InLast,
    /// From an earlier run; the last one did not get as far.
    Own(Box<T>),
}

impl<T> Kept<T> {
    /// Follows a new run, before it replaces `last`: `present` is whether it
    /// got as far as the fact (`None`: not as far) and whether it has the
    /// fact then; `last` is the fact in the run being replaced, copied out
    /// with `copy` when the new run does not get as far.
    fn follow<S>(&mut self, present: Option<bool>, last: Option<&S>, copy: impl FnOnce(&S) -> T) {
        match present {
            Some(true) => *self = Kept::InLast,
            Some(false) => *self = Kept::Nothing,
            None => {
                if matches!(self, Kept::InLast) {
                    *self = last.map_or(Kept::Nothing, |fact| Kept::Own(Box::new(copy(fact))));
                }
            }
        }
    }

    fn is_some(&self) -> bool {
        !matches!(self, Kept::Nothing)
    }
}

impl CheckSeries {
    /// The leaf certificate this check currently exposes.
    fn cert(&self) -> Option<&CertSummary> {
        match &self.cert {
            Kept::Nothing => None,
            Kept::InLast => self.last.as_ref()?.facts.tls.as_ref()?.leaf.as_ref(),
            Kept::Own(cert) => Some(cert),
        }
    }

    /// The watched capabilities this check currently exposes.
    fn capabilities(&self) -> &[(&'static str, bool)] {
        match &self.capabilities {
            Kept::Nothing => &[],
            Kept::InLast => self.last.as_ref().and_then(|o| o.facts.capabilities.as_deref()).unwrap_or_default(),
            Kept::Own(caps) => caps,
        }
    }
}

/// What the families' passes of one scrape read of one check, copied
/// from its [`CheckSeries`] in one pass. Twelve passes over ten thousand
/// checks scattered on the heap spent most of a scrape waiting for memory;
/// these rows (and their labels) lie one after another, which more than
/// halves the time to write the body in the agent at scale (docs/development.md,
/// Performance, has the figures).
struct Row {
    series: Arc<CheckSeries>,
    /// Where this check's labels lie in [`Snapshot::labels`]: start,
    /// end of `check=`, end of `kind=`, end.
    labels: [u32; 4],
    success: bool,
    duration: Option<f64>,
    runs: u64,
    last_run: Option<f64>,
    last_success: Option<f64>,
    cert_expiry: Option<i64>,
    tls_version: Option<&'static str>,
    dns_answers: Option<u64>,
    address_family: Option<&'static str>,
    http_status: Option<u16>,
    /// Whether the families read from `series` have lines for this check.
    tenant: bool,
    phases: bool,
    failures: bool,
    cert: bool,
    capabilities: bool,
}

/// A scrape's view of every check, by name.
pub(super) struct Snapshot {
    rows: Vec<Row>,
    /// Every check's escaped labels, one after another.
    labels: String,
}

impl Snapshot {
    fn new<'a>(checks: impl ExactSizeIterator<Item = &'a Arc<CheckSeries>>) -> Self {
        let mut rows = Vec::with_capacity(checks.len());
        let mut labels = String::with_capacity(checks.len() * 64);
        for series in checks {
            let start = labels.len();
            labels.push_str(&series.labels);
            let at = |n: usize| (start + n) as u32;
            let last = series.last.as_ref();
            rows.push(Row {
                labels: [at(0), at(series.check_end), at(series.kind_end), at(series.labels.len())],
                success: last.is_some_and(Observation::success),
                duration: last.map(|o| o.duration.as_secs_f64()),
                runs: series.runs,
                last_run: last.map(|o| unix_seconds(o.finished_at)),
                last_success: series.last_success,
                cert_expiry: series.cert_expiry,
                tls_version: series.tls_version,
                dns_answers: series.dns_answers,
                address_family: series.address_family,
                http_status: series.http_status,
                tenant: series.tenant.is_some(),
                phases: last.is_some_and(|o| !o.phases.is_empty()),
                failures: !series.failures.is_empty(),
                cert: series.cert.is_some(),
                capabilities: !series.capabilities().is_empty(),
                series: series.clone(),
            });
        }
        Snapshot { rows, labels }
    }
}

impl Row {
    /// Writes this check's lines of family `f`.
    fn write(&self, f: F, labels: &str, out: &mut String) {
        let name = FAMILIES[f as usize].name;
        let [start, check_end, kind_end, end] = self.labels.map(|i| i as usize);
        let all = labels.get(start..end).unwrap_or_default();
        let check = labels.get(start..check_end).unwrap_or_default();
        let both = labels.get(start..kind_end).unwrap_or_default();
        let series = &*self.series;
        match f {
            F::Success => sample(out, name, "", all, &[], Value::U(self.success.into())),
            F::LastDuration => {
                if let Some(d) = self.duration {
                    sample(out, name, "", both, &[], Value::F(d));
                }
            }
            F::PhaseLastDuration => {
                if !self.phases {
                    return;
                }
                for (phase, d) in series.last.as_ref().map(|o| o.phases.as_slice()).unwrap_or_default() {
                    sample(out, name, "", both, &[("phase", phase.as_str())], Value::F(d.as_secs_f64()));
                }
            }
            F::Runs => {
                if self.runs > 0 {
                    sample(out, name, "_total", both, &[], Value::U(self.runs));
                }
            }
            F::Failures => {
                if !self.failures {
                    return;
                }
                for (reason, n) in &series.failures {
                    sample(out, name, "_total", both, &[("reason", reason.as_str())], Value::U(*n));
                }
            }
            F::LastRun => {
                if let Some(t) = self.last_run {
                    sample(out, name, "", check, &[], Value::F(t));
                }
            }
            F::LastSuccess => {
                if let Some(t) = self.last_success {
                    sample(out, name, "", check, &[], Value::F(t));
                }
            }
            F::CertExpiry => {
                if let Some(t) = self.cert_expiry {
                    sample(out, name, "", check, &[], Value::I(t));
                }
            }
            F::TlsVersion => {
                if let Some(v) = self.tls_version {
                    sample(out, name, "", check, &[("version", v)], Value::U(1));
                }
            }
            F::CertInfo => {
                if !self.cert {
                    return;
                }
                if let Some(cert) = series.cert() {
                    let extra = [
                        ("subject", &*escape(clip(&cert.subject))),
                        ("issuer", &*escape(clip(&cert.issuer))),
                        ("fingerprint_sha256", &*escape(&cert.fingerprint_sha256)),
                    ];
                    sample(out, name, "", check, &extra, Value::U(1));
                }
            }
            F::Capability => {
                if !self.capabilities {
                    return;
                }
                for (cap, on) in series.capabilities() {
                    sample(out, name, "", check, &[("capability", cap)], Value::U((*on).into()));
                }
            }
            F::DnsAnswers => {
                if let Some(n) = self.dns_answers {
                    sample(out, name, "", check, &[], Value::U(n));
                }
            }
            F::AddressFamily => {
                if let Some(family) = self.address_family {
                    sample(out, name, "", check, &[("family", family)], Value::U(1));
                }
            }
            F::HttpStatus => {
                if let Some(code) = self.http_status {
                    sample(out, name, "", check, &[], Value::U(code.into()));
                }
            }
            F::TenantInfo => {
                if !self.tenant {
                    return;
                }
                if let Some(t) = &series.tenant {
                    let (tenant, id) = t.as_ref();
                    sample(out, name, "", check, &[("tenant", &**tenant), ("tenant_id", id)], Value::U(1));
                }
            }
        }
    }
}

/// A sample's value.
enum Value {
    U(u64),
    I(i64),
    F(f64),
}

/// One sample line: `ece_o365_<family><suffix>{<labels>[,<name>="<value>"...]} <value>`.
/// `labels` and the extra values are already escaped (or, like capability
/// names, TLS versions, phases and reasons, come from the code and need none). Built from pieces
/// rather than through `format!`: a scrape of 10,000 checks writes 150,000
/// of these.
fn sample(out: &mut String, family: &str, suffix: &str, labels: &str, extra: &[(&str, &str)], value: Value) {
    out.push_str("ece_o365_");
    out.push_str(family);
    out.push_str(suffix);
    out.push('{');
    out.push_str(labels);
    for (name, v) in extra {
        out.push(',');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(v);
        out.push('"');
    }
    out.push_str("} ");
    match value {
        Value::U(n) => out.push_str(itoa::Buffer::new().format(n)),
        Value::I(n) => out.push_str(itoa::Buffer::new().format(n)),
        Value::F(x) if x.is_finite() => {
            let mut buffer = ryu::Buffer::new();
            let text = buffer.format_finite(x);
            // `1700000000.0` -> `1700000000`, as Rust's and Go's formatting write it.
            out.push_str(text.strip_suffix(".0").unwrap_or(text));
        }
        Value::F(x) if x.is_nan() => out.push_str("NaN"),
        Value::F(x) => out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" }),
    }
    out.push('\n');
}

/// Every check's per-check series, by check name (so the output is sorted).
/// Each check's state is shared with the scrapes in progress, which read a
/// snapshot; a run recorded meanwhile copies that one check's state.
#[derive(Default)]
pub(super) struct PerCheck {
    checks: BTreeMap<String, Arc<CheckSeries>>,
}

impl PerCheck {
    /// A configured check's success series exists (as 0) before its first run.
    pub(super) fn declare(&mut self, meta: &Arc<CheckMeta>) {
        if !self.checks.contains_key(&meta.name) {
            self.checks.insert(meta.name.clone(), Arc::new(CheckSeries::new(meta)));
        }
    }

    pub(super) fn record(&mut self, meta: &Arc<CheckMeta>, obs: Observation) {
        let series = self
            .checks
            .entry(meta.name.clone())
            .or_insert_with(|| Arc::new(CheckSeries::new(meta)));
        // A check changed by a reload is forgotten before it runs again; this
        // only guards against mixing two checks' series under one name.
        if series.meta != *meta {
            *series = Arc::new(CheckSeries::new(meta));
        }
        Arc::make_mut(series).record(obs);
    }

    pub(super) fn forget(&mut self, name: &str) {
        self.checks.remove(name);
    }

    /// The checks that have run at least once.
    pub(super) fn ran(&self) -> usize {
        self.checks.values().filter(|c| c.last.is_some()).count()
    }

    /// Every check's state, by name; cheap (one reference per check).
    pub(super) fn snapshot(&self) -> Vec<Arc<CheckSeries>> {
        self.checks.values().cloned().collect()
    }

    /// What a scrape writes from, taken in one pass.
    pub(super) fn scrape(&self) -> Snapshot {
        Snapshot::new(self.checks.values())
    }
}

/// The per-check families of a snapshot as exposition text, in chunks of
/// about `chunk` bytes: each family's HELP and TYPE, then every check's lines.
pub(super) struct Chunks {
    snapshot: Snapshot,
    family: usize,
    next_check: usize,
    chunk: usize,
    format: Format,
}

impl Chunks {
    pub(super) fn new(snapshot: Snapshot, chunk: usize, format: Format) -> Self {
        Chunks {
            snapshot,
            family: 0,
            next_check: 0,
            chunk,
            format,
        }
    }
}

impl Iterator for Chunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.family >= N {
            return None;
        }
        // Room for one more check's lines past the nominal size.
        let mut out = String::with_capacity(self.chunk + 4096);
        while self.family < N && out.len() < self.chunk {
            let family = ALL[self.family];
            if self.next_check == 0 {
                let f = &FAMILIES[self.family];
                // The Prometheus format declares a counter under its samples' name.
                let suffix = match (self.format, f.kind) {
                    (Format::Prometheus, "counter") => "_total",
                    _ => "",
                };
                let _ = writeln!(out, "# HELP ece_o365_{}{suffix} {}", f.name, f.help);
                let _ = writeln!(out, "# TYPE ece_o365_{}{suffix} {}", f.name, f.kind);
            }
            while let Some(row) = self.snapshot.rows.get(self.next_check) {
                row.write(family, &self.snapshot.labels, &mut out);
                self.next_check += 1;
                if out.len() >= self.chunk {
                    break;
                }
            }
            if self.next_check >= self.snapshot.rows.len() {
                self.family += 1;
                self.next_check = 0;
            }
        }
        Some(out)
    }
}

/// `text`'s first [`MAX_CERT_LABEL`] characters.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(MAX_CERT_LABEL) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A label value as the exposition format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("CN=a\"b\\c\nd"), "CN=a\\\"b\\\\c\\nd");
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed("plain")));
    }

    /// Capability names and TLS versions are written without escaping:
    /// they come from the code, never from a server.
    #[test]
    fn static_label_values_need_no_escaping() {
        use crate::checks::{imap, pop3, smtp};
        for cap in smtp::WATCHED.iter().chain(imap::WATCHED).chain(pop3::WATCHED) {
            assert!(matches!(escape(cap), std::borrow::Cow::Borrowed(_)), "{cap}");
        }
    }

    #[test]
    fn families_and_their_enum_agree() {
        assert_eq!(FAMILIES[F::Success as usize].name, "check_success");
        assert_eq!(FAMILIES[F::DnsAnswers as usize].name, "dns_answers");
        assert_eq!(FAMILIES[F::Runs as usize].kind, "counter");
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }
}
