//! The report as text, for a terminal or a file: items in the guide's
//! order with their findings, evidence and remedy, in one language, with
//! ANSI colours only when asked (a terminal). It only formats an
//! [`Assessment`]; it runs nothing.

use std::fmt::Write as _;

use super::{detail_text, evidence_ids, item_title, labelled, role_text, status_text, summary_text, text};
use crate::guide::{Assessment, Finding, Status};
use crate::i18n::Lang;

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
            let _ = writeln!(out, "       {}", labelled(lang, "label-reply", &detail_text(lang, e)));
        }
        let ids = evidence_ids(e);
        if !ids.is_empty() {
            let _ = writeln!(out, "       {}", labelled(lang, "label-ids", &ids));
        }
        if let Some(p) = &e.proxy {
            let _ = writeln!(out, "       {}", lang.text("evidence-proxy", &[("proxy", p.clone())]));
        }
    }
    if let Some(r) = &f.remedy {
        let _ = writeln!(out, "       {}", labelled(lang, "label-remedy", &text(lang, r)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::assessment;

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
}
