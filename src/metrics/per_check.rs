//! The series that exist once per configured check, kept as ready-encoded
//! OpenMetrics lines. Owns those families' names, labels and values; must not
//! hold a label value that is not a configured name, a fixed enum, a watched
//! capability or a field of the certificate a check currently sees.
//!
//! Why not prometheus-client's families for these: a service provider's agent
//! runs thousands of checks, and encoding every sample through the generic
//! encoder on each scrape cost ~70 ms per 10,000 checks (`cargo bench --bench
//! render`). Here a check's lines are encoded when its run is recorded, once
//! per interval and off the scrape path, and a scrape only copies them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checks::CheckMeta;
use crate::observation::Observation;
use crate::reason::{Kind, Phase, Reason};

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
}

const N: usize = FAMILIES.len();

/// What one check currently exposes, and its lines per family.
struct CheckSeries {
    meta: CheckMeta,
    success: bool,
    last_duration: Option<f64>,
    phases: Vec<(Phase, f64)>,
    runs: u64,
    failures: Vec<(Reason, u64)>,
    last_run: Option<f64>,
    last_success: Option<f64>,
    cert_expiry: Option<i64>,
    tls_version: Option<&'static str>,
    /// subject, issuer, SHA-256 fingerprint of the leaf.
    cert: Option<(String, String, String)>,
    capabilities: Vec<(&'static str, bool)>,
    dns_answers: Option<u64>,
    /// The check's lines of every family, in family order, in one buffer (one
    /// allocation per check, reused run after run)...
    text: String,
    /// ...where family `i`'s lines end (they start where family `i - 1`'s end).
    ends: [u32; N],
}

impl CheckSeries {
    fn new(meta: &CheckMeta) -> Self {
        let mut s = CheckSeries {
            meta: meta.clone(),
            success: false,
            last_duration: None,
            phases: Vec::new(),
            runs: 0,
            failures: Vec::new(),
            last_run: None,
            last_success: None,
            cert_expiry: None,
            tls_version: None,
            cert: None,
            capabilities: Vec::new(),
            dns_answers: None,
            text: String::new(),
            ends: [0; N],
        };
        s.encode();
        s
    }

    fn record(&mut self, obs: &Observation, finished: f64) {
        self.success = obs.success();
        self.last_duration = Some(obs.duration.as_secs_f64());
        self.phases = obs.phases.iter().map(|(p, d)| (*p, d.as_secs_f64())).collect();
        self.runs += 1;
        if let Err(f) = &obs.outcome {
            match self.failures.iter_mut().find(|(r, _)| *r == f.reason) {
                Some((_, n)) => *n += 1,
                None => self.failures.push((f.reason, 1)),
            }
        }
        self.last_run = Some(finished);
        if obs.success() {
            self.last_success = Some(finished);
        }
        // TLS facts replace the previous ones; a run that did not get as far keeps them.
        if let Some(tls) = &obs.facts.tls {
            if tls.earliest_expiry.is_some() {
                self.cert_expiry = tls.earliest_expiry;
            }
            self.tls_version = Some(tls.version);
            self.cert = tls
                .leaf
                .as_ref()
                .map(|l| (clip(&l.subject), clip(&l.issuer), l.fingerprint_sha256.clone()));
        }
        if let Some(caps) = &obs.facts.capabilities {
            self.capabilities = caps.clone();
        }
        if let Some(n) = obs.facts.dns_answers {
            self.dns_answers = Some(n);
        } else if self.meta.kind == Kind::Dns {
            self.dns_answers = Some(0);
        }
        self.encode();
    }

    /// Re-encodes every family's lines from the current values.
    fn encode(&mut self) {
        let check = escape(&self.meta.name);
        let kind = self.meta.kind.as_str();
        let (text, ends) = (&mut self.text, &mut self.ends);
        text.clear();
        // The family whose lines are being written; families are written in order.
        let mut current = 0;
        let mut put = |f: F, labels: std::fmt::Arguments<'_>, suffix: &str, value: &dyn std::fmt::Display| {
            let f = f as usize;
            debug_assert!(f >= current, "families out of order");
            while current < f {
                ends[current] = text.len() as u32;
                current += 1;
            }
            // Writing to a String cannot fail.
            let _ = writeln!(text, "ece_o365_{}{suffix}{{{labels}}} {value}", FAMILIES[f].name);
        };
        put(
            F::Success,
            format_args!("check=\"{check}\",kind=\"{kind}\",target=\"{}\"", escape(&self.meta.target)),
            "",
            &u8::from(self.success),
        );
        if let Some(d) = self.last_duration {
            put(F::LastDuration, format_args!("check=\"{check}\",kind=\"{kind}\""), "", &d);
        }
        for (phase, d) in &self.phases {
            put(
                F::PhaseLastDuration,
                format_args!("check=\"{check}\",kind=\"{kind}\",phase=\"{}\"", phase.as_str()),
                "",
                d,
            );
        }
        if self.runs > 0 {
            put(F::Runs, format_args!("check=\"{check}\",kind=\"{kind}\""), "_total", &self.runs);
        }
        for (reason, n) in &self.failures {
            put(
                F::Failures,
                format_args!("check=\"{check}\",kind=\"{kind}\",reason=\"{}\"", reason.as_str()),
                "_total",
                n,
            );
        }
        if let Some(t) = self.last_run {
            put(F::LastRun, format_args!("check=\"{check}\""), "", &t);
        }
        if let Some(t) = self.last_success {
            put(F::LastSuccess, format_args!("check=\"{check}\""), "", &t);
        }
        if let Some(t) = self.cert_expiry {
            put(F::CertExpiry, format_args!("check=\"{check}\""), "", &t);
        }
        if let Some(v) = self.tls_version {
            put(F::TlsVersion, format_args!("check=\"{check}\",version=\"{}\"", escape(v)), "", &1);
        }
        if let Some((subject, issuer, fingerprint)) = &self.cert {
            put(
                F::CertInfo,
                format_args!(
                    "check=\"{check}\",subject=\"{}\",issuer=\"{}\",fingerprint_sha256=\"{}\"",
                    escape(subject),
                    escape(issuer),
                    escape(fingerprint)
                ),
                "",
                &1,
            );
        }
        for (cap, on) in &self.capabilities {
            put(
                F::Capability,
                format_args!("check=\"{check}\",capability=\"{}\"", escape(cap)),
                "",
                &u8::from(*on),
            );
        }
        if let Some(n) = self.dns_answers {
            put(F::DnsAnswers, format_args!("check=\"{check}\""), "", &n);
        }
        let len = text.len() as u32;
        for end in &mut ends[current..] {
            *end = len;
        }
    }

    /// Family `i`'s lines.
    fn lines(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or_default()
    }
}

/// Every check's per-check series, by check name (so the output is sorted).
#[derive(Default)]
pub(super) struct PerCheck {
    checks: BTreeMap<String, CheckSeries>,
}

impl PerCheck {
    /// A configured check's success series exists (as 0) before its first run.
    pub(super) fn declare(&mut self, meta: &CheckMeta) {
        if !self.checks.contains_key(&meta.name) {
            self.checks.insert(meta.name.clone(), CheckSeries::new(meta));
        }
    }

    pub(super) fn record(&mut self, meta: &CheckMeta, obs: &Observation, finished: f64) {
        let series = self.checks.entry(meta.name.clone()).or_insert_with(|| CheckSeries::new(meta));
        if series.meta.kind != meta.kind || series.meta.target != meta.target {
            *series = CheckSeries::new(meta);
        }
        series.record(obs, finished);
    }

    pub(super) fn forget(&mut self, name: &str) {
        self.checks.remove(name);
    }

    /// Bytes `encode` writes, so the caller can size its buffer once.
    pub(super) fn encoded_len(&self) -> usize {
        let headers: usize = FAMILIES.iter().map(|f| 2 * f.name.len() + f.help.len() + f.kind.len() + 40).sum();
        headers + self.checks.values().map(|c| c.text.len()).sum::<usize>()
    }

    /// Writes every family: its HELP and TYPE, then each check's lines.
    pub(super) fn encode(&self, out: &mut String) {
        for (i, family) in FAMILIES.iter().enumerate() {
            let _ = writeln!(out, "# HELP ece_o365_{} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE ece_o365_{} {}", family.name, family.kind);
            for check in self.checks.values() {
                out.push_str(check.lines(i));
            }
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_CERT_LABEL).collect()
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

    #[test]
    fn families_and_their_enum_agree() {
        assert_eq!(FAMILIES[F::Success as usize].name, "check_success");
        assert_eq!(FAMILIES[F::DnsAnswers as usize].name, "dns_answers");
        assert_eq!(FAMILIES[F::Runs as usize].kind, "counter");
    }
}
