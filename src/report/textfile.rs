//! One `check` run's results as a Prometheus textfile, for node_exporter's
//! and windows_exporter's textfile collectors: the same series as
//! `/metrics`, written by [`crate::metrics`] in the Prometheus text format,
//! plus the guide's items; and writing it atomically. It knows no metric
//! name but the guide items' one.

use std::fmt::Write as _;
use std::path::Path;

use super::Entry;
use crate::guide::{Assessment, Status};
use crate::metrics::{Format, Metrics};

/// One run's results as a Prometheus textfile: the same series as `/metrics`
/// plus the guide's items.
pub fn render_textfile(config: &crate::config::Config, entries: &[Entry], a: &Assessment) -> String {
    textfile(&metrics_of(config, entries), a)
}

/// The series of `metrics` in the Prometheus text format, then the guide's items.
fn textfile(metrics: &Metrics, a: &Assessment) -> String {
    let mut text: String = metrics.exposition_in(Format::Prometheus).collect();
    text.push_str(&guide_items_text(a));
    text
}

/// The series of one run, as the agent would export them after it.
fn metrics_of(config: &crate::config::Config, entries: &[Entry]) -> Metrics {
    let metrics = Metrics::new(crate::VERSION, crate::REVISION);
    metrics.configured(config);
    for e in entries {
        metrics.declare(&e.meta);
        metrics.observe(&e.meta, e.observation.clone());
    }
    metrics
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

/// Writes `content` to `path` atomically and durably (temporary file in
/// the same directory, fsync, rename, directory fsync; see
/// [`crate::atomic_file`]), so a collector never reads half a file.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    Ok(crate::atomic_file::write(path, content.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::checks::CheckMeta;
    use crate::observation::{CertSummary, Facts, Failure, Probe, TlsFacts, TokenFacts};
    use crate::reason::{Kind, Phase, Reason};
    use crate::report::test_support::assessment;

    /// How the textfile was made before it was written from the data: the
    /// OpenMetrics exposition, re-parsed into the Prometheus text format that
    /// node_exporter's and windows_exporter's textfile collectors read: no
    /// `# EOF`, `# UNIT` or `_created` lines, counters and info metrics declared
    /// under their sample names.
    fn openmetrics_to_textfile(openmetrics: &str) -> String {
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

    #[test]
    fn textfile_declares_counters_and_info_under_their_sample_names() {
        let om = "# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs_total{a=\"b\"} 3\nx_runs_created{a=\"b\"} 1.5\n# HELP x_build Build.\n# TYPE x_build info\nx_build_info{v=\"1\"} 1\n# UNIT x_s seconds\n# TYPE x_s gauge\nx_s 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_textfile(om),
            "# HELP x_runs_total Runs.\n# TYPE x_runs_total counter\nx_runs_total{a=\"b\"} 3\n# HELP x_build_info Build.\n# TYPE x_build_info gauge\nx_build_info{v=\"1\"} 1\n# TYPE x_s gauge\nx_s 2\n"
        );
    }

    fn entry(name: &str, kind: Kind, mailbox: Option<&str>, failure: Option<Reason>, facts: Facts) -> Entry {
        let meta = Arc::new(CheckMeta {
            name: name.into(),
            kind,
            target: "outlook.office365.com:993".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            mailbox: mailbox.map(str::to_string),
        });
        let mut probe = Probe::default();
        probe.enter(Phase::Connect);
        probe.enter(Phase::Tls);
        probe.facts = facts;
        let outcome = match failure {
            Some(reason) => Err(Failure::new(reason, "refused \"here\"")),
            None => Ok(()),
        };
        Entry {
            meta,
            observation: probe.into_observation(outcome, Duration::from_millis(20)),
        }
    }

    /// Written from the data, the textfile is byte for byte what re-parsing
    /// the `/metrics` exposition made of it, for every kind of series.
    #[test]
    fn the_textfile_is_what_the_openmetrics_exposition_made_of_it() {
        let yaml = "tenants:\n  - name: contoso\n    tenant_id: t\n    client_id: c1\n    client_secret_expires: 2027-06-30\nchecks:\n  - name: t\n    kind: tcp\n    target: h:1\n";
        let config = crate::config::Config::from_yaml(Path::new("x.yaml"), yaml).unwrap();
        let tls = Facts {
            tls: Some(TlsFacts {
                version: "TLSv1.3",
                earliest_expiry: Some(2_000_000_000),
                leaf: Some(CertSummary {
                    subject: "CN=outlook.com".into(),
                    issuer: "CN=\"Zscaler\" Root\\CA".into(),
                    fingerprint_sha256: "ab".repeat(32),
                }),
            }),
            capabilities: Some(vec![("AUTH=XOAUTH2", true), ("STARTTLS", false)]),
            address_family: Some("ipv6"),
            ..Facts::default()
        };
        let token = Facts {
            token: Some(TokenFacts {
                mailbox: "support".into(),
                expires_at: 1_900_000_000,
                lifetime: Some(4500),
                refresh_token_rotated_at: Some(1_800_000_000),
            }),
            mailbox_messages: Some(("INBOX", 42)),
            ..Facts::default()
        };
        let entries = [
            entry("imap-support", crate::checks::imap::KIND, Some("support"), None, tls),
            entry("token-support", crate::checks::token::KIND, Some("support"), None, token),
            entry(
                "tcp-closed",
                crate::checks::tcp::KIND,
                None,
                Some(Reason::ConnectRefused),
                Facts::default(),
            ),
            entry(
                "dns-mx",
                crate::checks::dns::KIND,
                None,
                Some(Reason::DnsNxdomain),
                Facts {
                    dns_answers: Some(0),
                    ..Facts::default()
                },
            ),
        ];
        let a = assessment();
        let metrics = metrics_of(&config, &entries);
        let written = textfile(&metrics, &a);
        let reparsed = openmetrics_to_textfile(&metrics.render()) + &guide_items_text(&a);
        assert_eq!(written, reparsed);
        // The same lines from a run's own series (the histograms' label sets
        // come in no fixed order from one registry to the next).
        let sorted = |text: &str| {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort_unstable();
            lines
        };
        let written = render_textfile(&config, &entries, &a);
        assert_eq!(sorted(&written), sorted(&reparsed));
        for line in [
            "# TYPE ece_o365_check_runs_total counter\n",
            "ece_o365_check_failures_total{check=\"tcp-closed\",kind=\"tcp\",reason=\"connect_refused\"} 1\n",
            "ece_o365_tls_cert_info{check=\"imap-support\",subject=\"CN=outlook.com\"",
            "ece_o365_client_secret_expiry_timestamp_seconds{tenant=\"contoso\",client_id=\"c1\"} 1814313600\n",
            "ece_o365_guide_item_status{item=\"network_connectivity\",status=\"failed\"} 1\n",
        ] {
            assert!(written.contains(line), "missing `{line}` in\n{written}");
        }
        assert!(!written.contains("# EOF") && !written.contains("_created") && !written.contains("# UNIT"));
    }
}
