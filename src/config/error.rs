//! Configuration errors that name the file, line, column and field path, with
//! the offending source line underneath, like a compiler would. The
//! credentials of a URL never show in one: message and snippet are redacted
//! (see [`super::redact`]) when the error is made and again when it is shown.

use std::fmt;
use std::path::{Path, PathBuf};

use super::redact::redact_urls;

/// Where in the YAML a value came from (1-based; 0 when unknown). Ordered
/// as in the file: by line, then column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl From<serde_saphyr::Location> for Loc {
    fn from(l: serde_saphyr::Location) -> Self {
        Loc {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX),
            column: u32::try_from(l.column()).unwrap_or(u32::MAX),
        }
    }
}

/// A configuration file that cannot be used, and exactly why.
#[derive(thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub loc: Loc,
    /// Field path such as `checks[2].target`; empty for file-level errors.
    pub field: String,
    pub message: String,
    /// The source line and a caret under the column, when known.
    pub snippet: Option<String>,
}

impl ConfigError {
    pub(crate) fn new(file: &Path, source: Option<&str>, loc: Loc, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            loc,
            field: field.into(),
            message: redact_urls(&message.into()).into_owned(),
            snippet: source.and_then(|s| snippet(s, loc)).map(|s| redact_urls(&s).into_owned()),
        }
    }

    /// An error about the file as a whole (unreadable, empty).
    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError::new(file, None, Loc::default(), "", message)
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigError")
            .field("file", &self.file)
            .field("loc", &self.loc)
            .field("field", &self.field)
            .field("message", &redact_urls(&self.message))
            .field("snippet", &self.snippet.as_deref().map(redact_urls))
            .finish()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.loc.line > 0 {
            write!(f, ":{}:{}", self.loc.line, self.loc.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        // Errors are also built outside this module, from other errors' text.
        write!(f, ": {}", redact_urls(&self.message))?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{}", redact_urls(snippet))?;
        }
        Ok(())
    }
}

fn snippet(source: &str, loc: Loc) -> Option<String> {
    if loc.line == 0 {
        return None;
    }
    let text = source.lines().nth(loc.line as usize - 1)?;
    let number = loc.line.to_string();
    let pad = " ".repeat(number.len());
    let caret_at = " ".repeat(loc.column.saturating_sub(1) as usize);
    Some(format!("{pad} |\n{number} | {text}\n{pad} | {caret_at}^"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_field_and_shows_the_line() {
        let src = "checks:\n  - name: a\n    kind: tcp\n    targett: x\n";
        let e = ConfigError::new(
            Path::new("c.yaml"),
            Some(src),
            Loc { line: 4, column: 5 },
            "checks[0].targett",
            "unknown field",
        );
        let text = e.to_string();
        assert!(text.starts_with("c.yaml:4:5: checks[0].targett: unknown field\n"), "{text}");
        assert!(text.contains("4 |     targett: x\n  |     ^"), "{text}");
    }

    #[test]
    fn url_credentials_never_show() {
        let src = "tenants:\n  - proxy: socks5://user:s3cret-pass@host: x\n";
        let e = ConfigError::new(
            Path::new("c.yaml"),
            Some(src),
            Loc { line: 2, column: 33 },
            "",
            "`socks5://user:s3cret-pass@host` is bad",
        );
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(!e.snippet.as_deref().unwrap_or_default().contains("s3cret"));
        // Built elsewhere with the raw text: still redacted when shown.
        let raw = ConfigError {
            message: "http://user:s3cret-pass@/ is bad".into(),
            snippet: Some("2 | proxy: http://user:s3cret-pass@/".into()),
            ..e
        };
        let text = raw.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("http://***@/ is bad"), "{text}");
    }
}
