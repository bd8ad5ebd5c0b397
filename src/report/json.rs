//! The report as JSON, for scripts and support tickets: the guide's items
//! (stable status and message codes, texts in one language) and every
//! check's raw result. Scripts read its shape (the golden files under
//! `tests/golden` pin it). It only formats; it runs nothing.

use serde::Serialize;

use super::{Entry, item_title, text};
use crate::guide::{Assessment, Status};
use crate::i18n::Lang;

#[derive(Serialize)]
struct JsonReport<'a> {
    passed: bool,
    lang: Lang,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    summary: JsonSummary,
    items: Vec<JsonItem>,
    checks: Vec<JsonEntry<'a>>,
}

#[derive(Serialize)]
struct JsonSummary {
    passed: usize,
    failed: usize,
    not_checked: usize,
}

#[derive(Serialize)]
struct JsonItem {
    item: &'static str,
    title: String,
    status: Status,
    findings: Vec<JsonFinding>,
}

#[derive(Serialize)]
struct JsonFinding {
    status: Status,
    /// The message key: stable across languages, for scripts.
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remedy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<JsonEvidence>,
}

#[derive(Serialize)]
struct JsonEvidence {
    check: String,
    kind: crate::reason::Kind,
    target: String,
    reason: crate::reason::Reason,
    phase: Option<crate::reason::Phase>,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    aadsts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    /// The HTTP proxy in the path (`host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<String>,
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

/// The report as JSON: `passed`, the guide's `items` (status codes and
/// message `code`s are stable; `title`, `message` and `remedy` are in `lang`)
/// and the raw `checks`.
pub fn render_json(a: &Assessment, entries: &[Entry], lang: Lang) -> String {
    let items = a
        .items
        .iter()
        .map(|i| JsonItem {
            item: i.item.as_str(),
            title: item_title(lang, i.item),
            status: i.status,
            findings: i
                .findings
                .iter()
                .map(|f| JsonFinding {
                    status: f.status,
                    code: f.message.key,
                    message: text(lang, &f.message),
                    remedy: f.remedy.as_ref().map(|r| text(lang, r)),
                    evidence: f.evidence.as_ref().map(|e| JsonEvidence {
                        check: e.check.clone(),
                        kind: e.kind,
                        target: e.target.clone(),
                        reason: e.reason,
                        phase: e.phase,
                        detail: e.detail.clone(),
                        aadsts: e.aadsts.clone(),
                        trace_id: e.trace_id.clone(),
                        correlation_id: e.correlation_id.clone(),
                        proxy: e.proxy.clone(),
                    }),
                })
                .collect(),
        })
        .collect();
    let checks = entries
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
    let report = JsonReport {
        passed: a.passed(),
        lang,
        role: a.role.map(|r| r.as_str()),
        summary: JsonSummary {
            passed: a.count(Status::Passed),
            failed: a.count(Status::Failed),
            not_checked: a.count(Status::NotChecked),
        },
        items,
        checks,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
