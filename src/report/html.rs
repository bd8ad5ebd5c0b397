//! The report as the status page (`/`): the guide's assessment of the
//! agent's last runs, as the same grouped report in HTML in one language.
//! Every text that reaches the page, server text included, is escaped
//! here. It reads results; it runs nothing.

use std::fmt::Write as _;

use super::{detail_text, evidence_ids, item_title, labelled, role_text, status_text, summary_text, text};
use crate::guide::{Assessment, CheckResult};
use crate::i18n::Lang;

/// The status page for the scheduler's last results (borrowed, not copied).
pub fn status_page(config: Option<&crate::config::Config>, last: &crate::metrics::LastRuns, configured: usize, lang: Lang) -> String {
    let results: Vec<CheckResult<'_>> = last.iter().map(|(meta, observation)| CheckResult { meta, observation }).collect();
    let empty = crate::config::Config::default();
    let a = crate::guide::assess(config.unwrap_or(&empty), &results, crate::clock::now_unix());
    render_html(&a, lang, results.len(), configured)
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
                        "<div class=\"ev\">{}</div>",
                        escape(&labelled(lang, "label-reply", &detail_text(lang, e)))
                    );
                }
                let ids = evidence_ids(e);
                if !ids.is_empty() {
                    let _ = write!(html, "<div class=\"ev\">{}</div>", escape(&labelled(lang, "label-ids", &ids)));
                }
                if let Some(p) = &e.proxy {
                    let _ = write!(
                        html,
                        "<div class=\"ev\">{}</div>",
                        escape(&lang.text("evidence-proxy", &[("proxy", p.clone())]))
                    );
                }
            }
            if let Some(r) = &f.remedy {
                let _ = write!(
                    html,
                    "<div class=\"remedy\">{}</div>",
                    escape(&labelled(lang, "label-remedy", &text(lang, r)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guide::Status;
    use crate::report::test_support::assessment;

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
    fn details_and_labels_follow_the_language() {
        let mut a = assessment();
        let failure = crate::observation::Failure::new(crate::reason::Reason::TokenWrongUser, "the token was issued to admin@x")
            .with_message("detail-token_wrong_user", &[("got", "admin@x"), ("user", "<support@x>")]);
        let detail_message = failure.message.map(|m| crate::guide::Message { key: m.key, args: m.args });
        a.items[1].findings.push(crate::guide::Finding {
            status: Status::Failed,
            message: crate::guide::Message {
                key: "check-not-run",
                args: vec![("check", "imap".into())],
            },
            evidence: Some(crate::guide::Evidence {
                check: "imap".into(),
                kind: crate::reason::Kind::new("imap"),
                target: "outlook.office365.com:993".into(),
                reason: crate::reason::Reason::TokenWrongUser,
                phase: None,
                detail: failure.detail,
                detail_message,
                aadsts: None,
                trace_id: None,
                correlation_id: None,
                proxy: None,
            }),
            remedy: None,
        });
        let fr = render_html(&a, Lang::Fr, 1, 1);
        // The agent's sentence in French, escaped, after the label with its no-break space.
        assert!(
            fr.contains(
                "<div class=\"ev\">D\u{e9}tail\u{a0}: Le jeton a \u{e9}t\u{e9} \u{e9}mis pour admin@x, et non pour &lt;support@x&gt;.</div>"
            ),
            "{fr}"
        );
        assert!(!fr.contains("the token was issued"), "{fr}");
        let en = render_html(&a, Lang::En, 1, 1);
        assert!(
            en.contains("<div class=\"ev\">Detail: The token was issued to admin@x, not &lt;support@x&gt;.</div>"),
            "{en}"
        );
    }
}
