//! The documentation, black-box: README.md and docs/*.md. Every relative
//! link resolves to a file of the repository (and an `#anchor` to a heading
//! of the Markdown file it names, slugged as GitHub does); every failure
//! reason the agent can report has its entry in docs/troubleshooting.md, and
//! only those; every metric family the agent exports is named in
//! docs/metrics.md. Reasons and metric names come from the library itself
//! (`Reason::ALL`, the exposition of a registry in which every family holds a
//! series), never from a list kept here.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use std::time::Duration;

use ece_o365_exporter::checks::build_all;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::metrics::Metrics;
use ece_o365_exporter::observation::{CertSummary, Facts, Failure, Probe, TenantFacts, TlsFacts, TokenFacts};
use ece_o365_exporter::reason::{Phase, Reason};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, as paths relative to the repository.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "no docs/*.md");
    files.extend(docs);
    files
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// The lines of a Markdown text outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// A line without its inline code spans (`...`), so that code is never read as a link.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The headings of a Markdown text (ATX style, outside code blocks), as written.
fn headings(text: &str) -> Vec<String> {
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let hashes = line.len() - line.trim_start_matches('#').len();
            ((1..=6).contains(&hashes) && line[hashes..].starts_with(' ')).then(|| line[hashes..].trim().to_string())
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and
/// `_` dropped, each space a `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown text; a repeated heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for h in headings(text) {
        let s = slug(&h);
        let n = seen.entry(s.clone()).or_insert(0);
        out.insert(if *n == 0 { s.clone() } else { format!("{s}-{n}") });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` of a Markdown text, with their line numbers.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            out.push((number, target.to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// `path` (relative to the repository) joined with `link` without leaving the
/// repository, or `None` when `..` climbs out of it.
fn resolve(from_dir: &Path, link: &str) -> Option<PathBuf> {
    let mut parts: Vec<Component<'_>> = from_dir.components().collect();
    for c in Path::new(link).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(c),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// What is wrong with the links of one Markdown file (relative to the repository).
fn broken_links(file: &Path) -> Vec<String> {
    let text = read(file);
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for (line, target) in link_targets(&text) {
        let at = format!("{}:{line}: ({target})", file.display());
        if target.is_empty() {
            broken.push(format!("{at}: empty link"));
            continue;
        }
        if target.starts_with("https://") || target.starts_with("http://") {
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            broken.push(format!("{at}: only relative links and http(s) links to public documentation"));
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let resolved = if path.is_empty() {
            file.to_path_buf()
        } else {
            match resolve(dir, path) {
                Some(p) => p,
                None => {
                    broken.push(format!("{at}: leaves the repository"));
                    continue;
                }
            }
        };
        if !root().join(&resolved).exists() {
            broken.push(format!("{at}: {} does not exist", resolved.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            if resolved.extension().is_none_or(|e| e != "md") {
                broken.push(format!("{at}: an anchor into a file that is not Markdown"));
            } else if !anchors(&read(&resolved)).contains(anchor) {
                broken.push(format!("{at}: no heading of {} has the anchor #{anchor}", resolved.display()));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let mut broken = Vec::new();
    let mut links = 0;
    for file in markdown_files() {
        links += link_targets(&read(&file)).len();
        broken.extend(broken_links(&file));
        assert!(
            !read(&file).contains("DESIGN.md"),
            "{}: names a design file outside the repository",
            file.display()
        );
    }
    assert!(links > 20, "only {links} links found: is the link parser broken?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_catches_what_it_must() {
    // Inside the repository, so that `..` can climb to its files and out of it.
    std::fs::create_dir_all(root().join("target")).unwrap();
    let dir = tempfile::tempdir_in(root().join("target")).unwrap();
    let rel = dir.path().strip_prefix(root()).unwrap().to_path_buf();
    std::fs::write(
        dir.path().join("a.md"),
        "# A heading: `with code`\n\n## Twice\n\n## Twice\n\n\
         [ok](#a-heading-with-code) [ok](a.md#twice-1) [ok](../../Cargo.toml)\n\
         [gone](missing.md) [bad](#nowhere) [out](../../../outside.md) [cargo](../../Cargo.toml#x)\n\
         ```\n[in code](not-checked.md)\n```\n`[in a span](not-checked.md)`\n",
    )
    .unwrap();
    let broken = broken_links(&rel.join("a.md"));
    assert_eq!(broken.len(), 4, "{broken:#?}");
    for (problem, link) in [
        ("does not exist", "missing.md"),
        ("no heading", "#nowhere"),
        ("leaves the repository", "outside.md"),
        ("not Markdown", "Cargo.toml#x"),
    ] {
        assert!(
            broken.iter().any(|b| b.contains(problem) && b.contains(link)),
            "{problem} / {link}: {broken:#?}"
        );
    }
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("OAuth2: tenants and mailboxes"), "oauth2-tenants-and-mailboxes");
    assert_eq!(
        slug("Web endpoint security: `--web.config.file`"),
        "web-endpoint-security---webconfigfile"
    );
    assert_eq!(slug("`dns_nxdomain`"), "dns_nxdomain");
    assert_eq!(
        slug("Bootstrapping a mailbox's token: `token init`"),
        "bootstrapping-a-mailboxs-token-token-init"
    );
}

#[test]
fn every_reason_has_its_troubleshooting_entry_and_no_other() {
    let text = read(Path::new("docs/troubleshooting.md"));
    let entries: BTreeSet<String> = headings(&text)
        .into_iter()
        .filter_map(|h| h.strip_prefix('`').and_then(|h| h.strip_suffix('`')).map(str::to_string))
        .collect();
    let reasons: BTreeSet<String> = Reason::ALL.iter().map(|r| r.as_str().to_string()).collect();
    assert!(!reasons.is_empty());
    let missing: Vec<_> = reasons.difference(&entries).collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no `### `reason`` heading for: {missing:?}"
    );
    let stale: Vec<_> = entries.difference(&reasons).collect();
    assert!(
        stale.is_empty(),
        "docs/troubleshooting.md has entries for reasons the agent does not have: {stale:?}"
    );
}

/// The agent's metrics after the example configuration of this test was
/// loaded and each of its checks recorded one run that learned every kind of
/// fact: families without a series are not written, so every family must hold one.
fn populated_metrics() -> Metrics {
    let yaml = "\
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret
    client_secret_expires: 2027-06-30
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    grant: client_credentials
checks:
  - name: token-support
    kind: token
    mailbox: support
  - name: imap-support
    kind: imap
    target: outlook.office365.com:993
    mailbox: support
  - name: dns-outlook
    kind: dns
    query: outlook.office365.com
";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client-secret"), "not-a-secret").unwrap();
    let config = Config::from_yaml(&dir.path().join("config.yaml"), yaml).unwrap();
    let metrics = Metrics::new("0.0.0", "docs");
    metrics.configured(&config);
    metrics.config_loaded(true);
    for check in build_all(&config).unwrap() {
        let mut probe = Probe::default();
        probe.enter(Phase::Connect);
        probe.facts = Facts {
            capabilities: Some(vec![("AUTH=XOAUTH2", true)]),
            tls: Some(TlsFacts {
                version: "TLSv1.3",
                earliest_expiry: Some(2_000_000_000),
                leaf: Some(CertSummary {
                    subject: "CN=outlook.com".into(),
                    issuer: "CN=DigiCert".into(),
                    fingerprint_sha256: "ab".repeat(32),
                }),
            }),
            dns_answers: Some(1),
            token: Some(TokenFacts {
                mailbox: "support".into(),
                expires_at: 1_900_000_000,
                lifetime: Some(4500),
                refresh_token_rotated_at: Some(1_800_000_000),
            }),
            mailbox_messages: Some(("INBOX", 1)),
            oldest_message: Some(("INBOX", Some(1_796_292_000))),
            address_family: Some("ipv4"),
            http_status: Some(200),
            tenant: Some(TenantFacts {
                tenant: "contoso".into(),
                directory_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            }),
            delivery: Some(Duration::from_secs(7)),
            // Not exported: it only decides which mailbox the guide names.
            other_mailbox: None,
        };
        let failure = Failure::new(Reason::ConnectTimeout, "no answer");
        metrics.observe(&check.meta, probe.into_observation(Err(failure), Duration::from_millis(5)));
    }
    metrics
}

/// The sample names of every family the agent exports, from its own
/// exposition: `# TYPE` lines, with `_total` for counters (OpenMetrics).
fn exported_metric_names() -> BTreeSet<String> {
    let text = populated_metrics().render();
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap_or_default();
            match words.next() {
                Some("counter") => format!("{name}_total"),
                _ => name.to_string(),
            }
        })
        .collect()
}

#[test]
fn every_exported_metric_is_in_the_metrics_page() {
    let names = exported_metric_names();
    assert!(names.len() > 10, "too few metric families found: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("ece_o365_")), "{names:?}");
    let text = read(Path::new("docs/metrics.md"));
    let missing: Vec<_> = names.iter().filter(|n| !text.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "docs/metrics.md does not name: {missing:?}");
}
