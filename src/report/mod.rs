//! The troubleshooting report: the guide's check items (see [`crate::guide`])
//! rendered for people (text, with colour on a terminal; HTML for the status
//! page) and for scripts and support tickets (JSON), in the guide's five
//! languages; plus the check results as a Prometheus textfile.
//!
//! This module runs the checks for the `check` subcommand ([`run_all`]; the
//! only place here that touches the network), assesses them, and holds
//! what the renderers share (an [`Entry`], the localised texts). Each
//! format is a file of its own (`text`, `json`, `html` with the status
//! page, `textfile`), which reads results and never runs a check.

mod html;
mod json;
mod text;
mod textfile;

use std::sync::Arc;

use crate::checks::{CheckMeta, ScheduledCheck, run_check};
use crate::guide::{Assessment, CheckResult, Message, Status};
use crate::i18n::Lang;
use crate::observation::{Failure, Observation, Probe};
use crate::reason::Reason;

pub use html::{render_html, status_page};
pub use json::render_json;
pub use text::render_text;
pub use textfile::{render_textfile, write_atomically};

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

pub fn all_passed(entries: &[Entry]) -> bool {
    entries.iter().all(|e| e.observation.success())
}

fn text(lang: Lang, m: &Message) -> String {
    lang.text(m.key, &m.args)
}

/// A failure's detail: the agent's own sentence in `lang` when it wrote one,
/// otherwise the detail as recorded (a server's text stays as it was sent).
fn detail_text(lang: Lang, e: &crate::guide::Evidence) -> String {
    match &e.detail_message {
        Some(m) => text(lang, m),
        None => e.detail.clone(),
    }
}

/// `Label: value`, with the language's own punctuation (`Label\u{a0}: value` in French).
fn labelled(lang: Lang, label_key: &str, value: &str) -> String {
    lang.text(
        "report-labelled",
        &[("label", lang.text(label_key, &[])), ("value", value.to_string())],
    )
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

#[cfg(test)]
mod test_support {
    use crate::guide::{Assessment, GuideItem, ItemReport, Status};

    /// Two items, one passed and one failed, without findings.
    pub(super) fn assessment() -> Assessment {
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
}
