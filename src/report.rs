//! `ece-o365-exporter check`: every configured check run once, side by side,
//! as a table for people or JSON for scripts and support tickets.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{CheckMeta, ScheduledCheck, run_check};
use crate::observation::Observation;

/// One check's result in the report.
pub struct Entry {
    pub meta: Arc<CheckMeta>,
    pub observation: Observation,
}

/// Runs every check once, all at the same time; results in config order.
pub async fn run_all(checks: &[ScheduledCheck]) -> Vec<Entry> {
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in checks.iter().enumerate() {
        let c = c.clone();
        set.spawn(async move { (i, run_check(&c).await) });
    }
    let mut results: Vec<Option<Observation>> = vec![None; checks.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, obs)) = done {
            results[i] = Some(obs);
        }
    }
    checks
        .iter()
        .zip(results)
        .filter_map(|(c, obs)| {
            obs.map(|observation| Entry {
                meta: c.meta.clone(),
                observation,
            })
        })
        .collect()
}

pub fn all_passed(entries: &[Entry]) -> bool {
    entries.iter().all(|e| e.observation.success())
}

/// A fixed-width table, one line per check, then the detail of each failure.
pub fn render_text(entries: &[Entry]) -> String {
    let header = ["CHECK", "KIND", "TARGET", "RESULT", "REASON", "PHASE", "DURATION"];
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            let o = &e.observation;
            [
                e.meta.name.clone(),
                e.meta.kind.to_string(),
                e.meta.target.clone(),
                if o.success() { "ok".into() } else { "FAILED".into() },
                o.reason().map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                o.failed_phase.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                format!("{} ms", o.duration.as_millis()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                let _ = write!(text, "{cell:>w$}");
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    let failed: Vec<&Entry> = entries.iter().filter(|e| !e.observation.success()).collect();
    let _ = writeln!(out, "\n{} of {} checks passed.", entries.len() - failed.len(), entries.len());
    for e in failed {
        if let Err(f) = &e.observation.outcome {
            let _ = writeln!(out, "  {}: {}", e.meta.name, f.detail);
        }
    }
    out
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    check: &'a str,
    kind: crate::reason::Kind,
    target: &'a str,
    success: bool,
    reason: Option<crate::reason::Reason>,
    phase: Option<crate::reason::Phase>,
    detail: Option<&'a str>,
    duration_seconds: f64,
    phases: Vec<JsonPhase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<JsonTls<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<std::collections::BTreeMap<&'static str, bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_answers: Option<u64>,
}

#[derive(Serialize)]
struct JsonPhase {
    phase: crate::reason::Phase,
    seconds: f64,
}

#[derive(Serialize)]
struct JsonTls<'a> {
    version: &'a str,
    earliest_cert_expiry: Option<i64>,
    subject: Option<&'a str>,
    issuer: Option<&'a str>,
    fingerprint_sha256: Option<&'a str>,
}

/// The same results as JSON: `{"passed": bool, "checks": [...]}`.
pub fn render_json(entries: &[Entry]) -> String {
    let checks: Vec<JsonEntry> = entries
        .iter()
        .map(|e| {
            let o = &e.observation;
            JsonEntry {
                check: &e.meta.name,
                kind: e.meta.kind,
                target: &e.meta.target,
                success: o.success(),
                reason: o.reason(),
                phase: o.failed_phase,
                detail: o.outcome.as_ref().err().map(|f| f.detail.as_str()),
                duration_seconds: o.duration.as_secs_f64(),
                phases: o
                    .phases
                    .iter()
                    .map(|(p, d)| JsonPhase {
                        phase: *p,
                        seconds: d.as_secs_f64(),
                    })
                    .collect(),
                tls: o.facts.tls.as_ref().map(|t| JsonTls {
                    version: t.version,
                    earliest_cert_expiry: t.earliest_expiry,
                    subject: t.leaf.as_ref().map(|l| l.subject.as_str()),
                    issuer: t.leaf.as_ref().map(|l| l.issuer.as_str()),
                    fingerprint_sha256: t.leaf.as_ref().map(|l| l.fingerprint_sha256.as_str()),
                }),
                capabilities: o.facts.capabilities.as_ref().map(|c| c.iter().copied().collect()),
                dns_answers: o.facts.dns_answers,
            }
        })
        .collect();
    let doc = serde_json::json!({ "passed": all_passed(entries), "checks": checks });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
