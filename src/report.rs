//! The troubleshooting report: the guide's check items (see [`crate::guide`])
//! rendered for people (text, with colour on a terminal; HTML for the status
//! page) and for scripts and support tickets (JSON), in the guide's five
//! languages; plus the check results as a Prometheus textfile.
//!
//! It runs checks only in [`run_all`] (the `check` subcommand); rendering
//! reads results and never touches the network.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{CheckMeta, ScheduledCheck, run_check};
use crate::guide::{Assessment, CheckResult, Finding, Message, Status};
use crate::i18n::Lang;
use crate::observation::{Failure, Observation, Probe};
use crate::reason::Reason;

/// One check's result in the report.
pub struct Entry {
    pub meta: Arc<CheckMeta>,
    pub observation: Observation,
}

impl Entry {
    pub fn as_result(&self) -> CheckResult<'_> {
        CheckResult {
            meta: &self.meta,
            observation: &self.observation,
        }
    }
}

/// Runs every check once, all at the same time; results in config order,
/// exactly one entry per check. A run whose task ended without a result
/// (which [`run_check`] does not let a check do) is reported as `internal`,
/// never left out.
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
        .map(|(c, obs)| Entry {
            meta: c.meta.clone(),
            observation: obs.unwrap_or_else(|| {
                tracing::error!(check = %c.meta.name, "the check's task ended without a result; reported as reason internal");
                Probe::default().into_observation(
                    Err(Failure::new(Reason::Internal, "the check's task ended without a result")),
                    std::time::Duration::ZERO,
                )
            }),
        })
        .collect()
}

/// Assesses one run's results against the guide, now.
pub fn assess(config: &crate::config::Config, entries: &[Entry]) -> Assessment {
    let results: Vec<CheckResult<'_>> = entries.iter().map(Entry::as_result).collect();
    crate::guide::assess(config, &results, crate::clock::now_unix())
}

/// One run's results as a Prometheus textfile: the same series as `/metrics`
/// plus the guide's items.
pub fn render_textfile(config: &crate::config::Config, entries: &[Entry], a: &Assessment) -> String {
    let metrics = crate::metrics::Metrics::new(crate::VERSION, crate::REVISION);
    metrics.configured(config);
    for e in entries {
        metrics.declare(&e.meta);
        metrics.observe(&e.meta, e.observation.clone());
    }
    let mut text = openmetrics_to_textfile(&metrics.render());
    text.push_str(&guide_items_text(a));
    text
}

/// The guide's check items as a state set for a textfile: one series per
/// item and status, 1 for the item's current status.
fn guide_items_text(assessment: &Assessment) -> String {
    let name = format!("{}_guide_item_status", crate::metrics::PREFIX);
    let mut out = format!(
        "# HELP {name} Check items of Cisco's troubleshooting guide: 1 for the item's status (passed, failed, not_checked)\n# TYPE {name} gauge\n"
    );
    for item in &assessment.items {
        for status in Status::ALL {
            let value = u8::from(item.status == *status);
            let _ = writeln!(out, "{name}{{item=\"{}\",status=\"{}\"}} {value}", item.item, status);
        }
    }
    out
}

/// The status page for the scheduler's last results (borrowed, not copied).
pub fn status_page(config: Option<&crate::config::Config>, last: &crate::metrics::LastRuns, configured: usize, lang: Lang) -> String {
    let results: Vec<CheckResult<'_>> = last.iter().map(|(meta, observation)| CheckResult { meta, observation }).collect();
    let empty = crate::config::Config::default();
    let a = crate::guide::assess(config.unwrap_or(&empty), &results, crate::clock::now_unix());
    render_html(&a, lang, results.len(), configured)
}

pub fn all_passed(entries: &[Entry]) -> bool {
    entries.iter().all(|e| e.observation.success())
}

fn text(lang: Lang, m: &Message) -> String {
    lang.text(m.key, &m.args)
}

fn status_text(lang: Lang, s: Status) -> String {
    lang.text(&format!("status-{}", s.as_str()), &[])
}

fn item_title(lang: Lang, item: crate::guide::GuideItem) -> String {
    lang.text(&format!("item-{}", item.as_str()), &[])
}

fn role_text(lang: Lang, a: &Assessment) -> Option<String> {
    a.role.map(|r| lang.text("report-role", &[("role", r.as_str().to_string())]))
}

fn summary_text(lang: Lang, a: &Assessment) -> String {
    lang.text(
        "report-summary",
        &[
            ("passed", a.count(Status::Passed).to_string()),
            ("failed", a.count(Status::Failed).to_string()),
            ("not_checked", a.count(Status::NotChecked).to_string()),
        ],
    )
}

/// The report for a terminal or a file: items in the guide's order, each
/// with its status, findings, evidence and remedy. `colour` adds ANSI colours
/// to the statuses (only for a terminal).
pub fn render_text(a: &Assessment, lang: Lang, colour: bool) -> String {
    let paint = |s: Status, t: String| {
        if !colour {
            return t;
        }
        let code = match s {
            Status::Passed => "32",
            Status::Failed => "1;31",
            Status::NotChecked => "33",
        };
        format!("\x1b[{code}m{t}\x1b[0m")
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", lang.text("report-title", &[]));
    if let Some(role) = role_text(lang, a) {
        let _ = writeln!(out, "{role}");
    }
    for (n, item) in a.items.iter().enumerate() {
        let heading = lang.text(
            "report-item",
            &[
                ("n", (n + 1).to_string()),
                ("title", item_title(lang, item.item)),
                ("status", paint(item.status, status_text(lang, item.status))),
            ],
        );
        let _ = writeln!(out, "\n{heading}");
        for f in &item.findings {
            let mark = match f.status {
                Status::Passed => "[+]",
                Status::Failed => "[x]",
                Status::NotChecked => "[-]",
            };
            let _ = writeln!(out, "   {} {}", paint(f.status, mark.to_string()), text(lang, &f.message));
            write_evidence_text(&mut out, lang, f);
        }
    }
    let _ = writeln!(out, "\n{}", summary_text(lang, a));
    out
}

fn write_evidence_text(out: &mut String, lang: Lang, f: &Finding) {
    if let Some(e) = &f.evidence {
        if !e.detail.is_empty() {
            let _ = writeln!(out, "       {}", labelled(lang, "label-reply", &e.detail));
        }
        let ids = evidence_ids(e);
        if !ids.is_empty() {
            let _ = writeln!(out, "       {}", labelled(lang, "label-ids", &ids));
        }
    }
    if let Some(r) = &f.remedy {
        let _ = writeln!(out, "       {}", labelled(lang, "label-remedy", &text(lang, r)));
    }
}

/// `Label: value`, with the language's own punctuation (`Label : value` in French).
fn labelled(lang: Lang, label_key: &str, value: &str) -> String {
    lang.text(
        "report-labelled",
        &[("label", lang.text(label_key, &[])), ("value", value.to_string())],
    )
}

fn evidence_ids(e: &crate::guide::Evidence) -> String {
    let mut ids = Vec::new();
    if let Some(a) = &e.aadsts {
        ids.push(a.clone());
    }
    if let Some(t) = &e.trace_id {
        ids.push(format!("trace_id={t}"));
    }
    if let Some(c) = &e.correlation_id {
        ids.push(format!("correlation_id={c}"));
    }
    ids.join(" ")
}

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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The status page body: the same grouped report, as HTML in `lang`.
/// `ran`/`configured` say how many checks have results yet.
pub fn render_html(a: &Assessment, lang: Lang, ran: usize, configured: usize) -> String {
    let title = escape(&lang.text("report-title", &[]));
    let mut html = format!(
        concat!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>",
            "<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}h2{{font-size:1.1em;margin-top:1.5em}}",
            "li{{margin:.3em 0}}.passed{{color:#186a18}}.failed{{color:#b00020;font-weight:bold}}.not_checked{{color:#8a6d00}}",
            ".ev{{color:#444;font-family:monospace}}.remedy{{margin-left:1em}}</style>",
            "</head><body><h1>{}</h1><p><a href=\"/metrics\">{}</a></p>"
        ),
        lang.code(),
        title,
        title,
        escape(&lang.text("page-metrics", &[]))
    );
    if let Some(role) = role_text(lang, a) {
        let _ = write!(html, "<p>{}</p>", escape(&role));
    }
    for (n, item) in a.items.iter().enumerate() {
        let _ = write!(
            html,
            "<h2 id=\"{}\">{}. {} <span class=\"{}\">{}</span></h2><ul>",
            item.item.as_str(),
            n + 1,
            escape(&item_title(lang, item.item)),
            item.status.as_str(),
            escape(&status_text(lang, item.status))
        );
        for f in &item.findings {
            let _ = write!(html, "<li class=\"{}\">{}", f.status.as_str(), escape(&text(lang, &f.message)));
            if let Some(e) = &f.evidence {
                if !e.detail.is_empty() {
                    let _ = write!(
                        html,
                        "<div class=\"ev\">{}: {}</div>",
                        escape(&lang.text("label-reply", &[])),
                        escape(&e.detail)
                    );
                }
                let ids = evidence_ids(e);
                if !ids.is_empty() {
                    let _ = write!(
                        html,
                        "<div class=\"ev\">{}: {}</div>",
                        escape(&lang.text("label-ids", &[])),
                        escape(&ids)
                    );
                }
            }
            if let Some(r) = &f.remedy {
                let _ = write!(
                    html,
                    "<div class=\"remedy\">{}: {}</div>",
                    escape(&lang.text("label-remedy", &[])),
                    escape(&text(lang, r))
                );
            }
            html.push_str("</li>");
        }
        html.push_str("</ul>");
    }
    let _ = writeln!(
        html,
        "<p>{}</p><p>{}</p></body></html>",
        escape(&summary_text(lang, a)),
        escape(&lang.text(
            "page-checks-run",
            &[("ran", ran.to_string()), ("configured", configured.to_string())]
        ))
    );
    html
}

/// Turns the OpenMetrics exposition into the Prometheus text format that
/// node_exporter's and windows_exporter's textfile collectors read: no
/// `# EOF`, `# UNIT` or `_created` lines, counters and info metrics declared
/// under their sample names.
pub fn openmetrics_to_textfile(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP comes before TYPE, so learn every family's type first.
    let kinds: std::collections::HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let sample_name = |name: &str| match kinds.get(name) {
        Some(&"counter") => format!("{name}_total"),
        Some(&"info") => format!("{name}_info"),
        _ => name.to_string(),
    };
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let kind = match kind {
                "counter" | "gauge" | "histogram" | "summary" => kind,
                "info" => "gauge",
                _ => "untyped",
            };
            let _ = writeln!(out, "# TYPE {} {kind}", sample_name(name));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let _ = writeln!(out, "# HELP {} {help}", sample_name(name));
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap_or_default();
        if sample
            .strip_suffix("_created")
            .is_some_and(|base| kinds.get(base) == Some(&"counter"))
        {
            continue;
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Writes `content` to `path` atomically and durably (temporary file in
/// the same directory, fsync, rename, directory fsync; see
/// [`crate::atomic_file`]), so a collector never reads half a file.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    Ok(crate::atomic_file::write(path, content.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guide::{GuideItem, ItemReport};

    fn assessment() -> Assessment {
        Assessment {
            role: None,
            items: vec![
                ItemReport {
                    item: GuideItem::MinimumVersion,
                    status: Status::Passed,
                    findings: Vec::new(),
                },
                ItemReport {
                    item: GuideItem::NetworkConnectivity,
                    status: Status::Failed,
                    findings: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = render_text(&assessment(), Lang::En, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("1. Minimum version: PASSED") && plain.contains("2. Network connectivity (URLs, DNS, ports, TLS): FAILED"));
        let coloured = render_text(&assessment(), Lang::En, true);
        assert!(
            coloured.contains("\x1b[32mPASSED\x1b[0m") && coloured.contains("\x1b[1;31mFAILED\x1b[0m"),
            "{coloured:?}"
        );
    }

    #[test]
    fn html_escapes_server_text() {
        let mut a = assessment();
        a.items[1].findings.push(crate::guide::Finding {
            status: Status::Failed,
            message: crate::guide::Message {
                key: "check-failed",
                args: vec![("check", "<script>x</script>".into())],
            },
            evidence: None,
            remedy: None,
        });
        let html = render_html(&a, Lang::En, 1, 1);
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn textfile_declares_counters_and_info_under_their_sample_names() {
        let om = "# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs_total{a=\"b\"} 3\nx_runs_created{a=\"b\"} 1.5\n# HELP x_build Build.\n# TYPE x_build info\nx_build_info{v=\"1\"} 1\n# UNIT x_s seconds\n# TYPE x_s gauge\nx_s 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_textfile(om),
            "# HELP x_runs_total Runs.\n# TYPE x_runs_total counter\nx_runs_total{a=\"b\"} 3\n# HELP x_build_info Build.\n# TYPE x_build_info gauge\nx_build_info{v=\"1\"} 1\n# TYPE x_s gauge\nx_s 2\n"
        );
    }
}
