//! Every configuration rule, one invalid file each (`tests/testdata/invalid-*.yaml`,
//! run as a table): the error must name the line, column and field, and say
//! what is wrong. The first line of each file declares what it expects:
//! `# expect: LINE:COLUMN FIELD | MESSAGE-SUBSTRING`. The error of an
//! `invalid-proxy-*` or `*-credentials` file must not show the URL's user or
//! password.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ece_o365_exporter::checks::build_all;
use ece_o365_exporter::config::Config;
use test_support::repo;

fn testdata() -> PathBuf {
    repo("tests/testdata")
}

struct Expect {
    line: u32,
    column: u32,
    field: String,
    message: String,
}

fn parse_expect(path: &Path) -> Expect {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let spec = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
    let (head, message) = spec
        .split_once(" | ")
        .unwrap_or_else(|| panic!("{}: missing ` | `", path.display()));
    let (pos, field) = head.split_once(' ').unwrap_or((head, ""));
    let (line, column) = pos.split_once(':').unwrap();
    Expect {
        line: line.parse().unwrap(),
        column: column.parse().unwrap(),
        field: field.to_string(),
        message: message.to_string(),
    }
}

#[test]
fn every_invalid_file_names_line_field_and_problem() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("invalid-"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the table lost files: {}", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let expect = parse_expect(file);
        let err = match Config::load(file).and_then(|cfg| build_all(&cfg).map(|_| ())) {
            Ok(()) => {
                problems.push(format!("{}: accepted", file.display()));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        let name = file.file_name().unwrap().to_string_lossy();
        if (err.loc.line, err.loc.column) != (expect.line, expect.column) {
            problems.push(format!(
                "{name}: at {}:{}, expected {}:{}\n{shown}",
                err.loc.line, err.loc.column, expect.line, expect.column
            ));
        }
        if err.field != expect.field {
            problems.push(format!("{name}: field `{}`, expected `{}`", err.field, expect.field));
        }
        if !err.message.contains(&expect.message) {
            problems.push(format!("{name}: message `{}` lacks `{}`", err.message, expect.message));
        }
        let head = format!("{}:{}:{}: {}", file.display(), expect.line, expect.column, expect.field);
        if !shown.starts_with(&head) {
            problems.push(format!("{name}: shown as `{shown}`, expected it to start with `{head}`"));
        }
        let source_line = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .nth(expect.line as usize - 1)
            .unwrap()
            .to_string();
        if name.starts_with("invalid-proxy-") || name.ends_with("-credentials.yaml") {
            // A URL's credentials: redacted in the message, the snippet and Debug.
            let debug = format!("{err:?}");
            for (what, text) in [("shown", &shown), ("Debug", &debug)] {
                if text.contains("pass") || text.contains("proxyuser") || !text.contains("***@") {
                    problems.push(format!("{name}: the proxy's credentials are not redacted ({what}): {text}"));
                }
            }
        }
        if expect.field.starts_with("tenants") {
            // The tenants section may hold a secret: its lines are never echoed.
            if shown.contains(source_line.trim()) || shown.contains("canary") {
                problems.push(format!("{name}: a tenants line was echoed: {shown}"));
            }
        } else if !shown.contains(&source_line) {
            problems.push(format!("{name}: the snippet does not show the offending line `{source_line}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_example_config_is_valid() {
    let path = repo("config.example.yaml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(build_all(&cfg).unwrap().len(), cfg.checks.len());
    assert!(cfg.checks.len() >= 8);
}

#[test]
fn config_check_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_ece-o365-exporter");
    let example = repo("config.example.yaml");
    let ok = Command::new(bin)
        .args(["config", "check", "--config.file"])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid"));

    let bad = testdata().join("invalid-unknown-key.yaml");
    for args in [&["config", "check"][..], &["check"][..], &[][..]] {
        let out = Command::new(bin).args(args).arg("--config.file").arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid-unknown-key.yaml:6:5: checks[0].targett: unknown field `targett`"),
            "{args:?}: {stderr}"
        );
    }

    let missing = Command::new(bin)
        .args(["config", "check", "--config.file", "/nonexistent/config.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/config.yaml: cannot read the configuration file"));
}

/// Uncomments the commented OAuth example of `config.example.yaml` (one
/// level of `# `, only YAML-looking lines), so the documented example is
/// proven valid.
fn uncomment_oauth_example(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let (indent, rest) = match line.find("# ") {
            Some(i) if line[..i].chars().all(|c| c == ' ') => (&line[..i], &line[i + 2..]),
            _ => {
                out.push(line.to_string());
                continue;
            }
        };
        let yaml_like = rest.starts_with("tenants:")
            || rest.starts_with("ece:")
            || rest.starts_with("mailboxes:")
            || ((rest.starts_with("  ") || rest.starts_with("- name:")) && rest.contains(':') && !rest.trim_start().starts_with('#'));
        out.push(if yaml_like { format!("{indent}{rest}") } else { line.to_string() });
    }
    out.join("\n")
}

#[test]
fn the_commented_oauth_example_is_valid_when_uncommented() {
    let example = std::fs::read_to_string(repo("config.example.yaml")).unwrap();
    let text = uncomment_oauth_example(&example);
    assert!(
        text.contains("\ntenants:")
            && text.contains("\nmailboxes:")
            && text.contains("kind: token")
            && text.contains("kind: tenant")
            && text.contains("kind: mailflow")
            && text.contains("\nece:"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth-example.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"))
        .env("ECE_O365_CLIENT_SECRET", "example-secret")
        .args(["config", "check", "--config.file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("valid, 15 checks"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `client_secret: file:${CREDENTIALS_DIRECTORY}/NAME` reads systemd's
/// credential from the directory the service manager names, and says what
/// is wrong when the agent was not started with one.
#[test]
fn a_secret_in_systemds_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("client-secret"), "canary-credential-secret\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "tenants:\n  - name: contoso\n    tenant_id: contoso.onmicrosoft.com\n    client_id: 11111111-2222-3333-4444-555555555555\n    \
         client_secret: file:${CREDENTIALS_DIRECTORY}/client-secret\nchecks:\n  - {name: t, kind: tcp, target: 127.0.0.1:1}\n",
    )
    .unwrap();
    let run = |credentials: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"));
        cmd.args(["config", "check", "--config.file"])
            .arg(&config)
            .env_remove("CREDENTIALS_DIRECTORY");
        if let Some(c) = credentials {
            cmd.env("CREDENTIALS_DIRECTORY", c);
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("canary-credential-secret"), "{text}");
        (out.status.code(), text)
    };
    let (code, text) = run(Some(&credentials));
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(None);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("tenants[0].client_secret: CREDENTIALS_DIRECTORY is not set"),
        "{text}"
    );
    let (code, text) = run(Some(dir.path()));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("cannot read {}", dir.path().join("client-secret").display())),
        "{text}"
    );
}
