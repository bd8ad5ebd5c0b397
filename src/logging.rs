//! Log output: logfmt (the Prometheus exporters' default) or JSON, on stderr,
//! filtered by `--log.level`. Check context (check, kind, target) is attached
//! to every line a check logs.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Installs the global subscriber. `level` is `error|warn|info|debug|trace`
/// or a full filter directive (`info,ece_o365_exporter=debug`).
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("--log.level `{level}`: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Logfmt => builder.fmt_fields(LogfmtFields).event_format(Logfmt).try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// `ts=... level=warn msg="check failed" check=smtp reason=timeout`
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(w, "ts={ts} level={level}")?;
        let mut visitor = LogfmtVisitor {
            out: String::new(),
            message: None,
        };
        event.record(&mut visitor);
        if let Some(msg) = visitor.message {
            write!(w, " msg={}", quote(&msg))?;
        }
        write!(w, "{}", visitor.out)?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, " {fields}")?;
                }
            }
        }
        writeln!(w)
    }
}

/// Span fields in logfmt, stored by the fmt layer and printed with each event.
struct LogfmtFields;

impl<'w> FormatFields<'w> for LogfmtFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(&self, mut w: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = LogfmtVisitor {
            out: String::new(),
            message: None,
        };
        fields.record(&mut visitor);
        write!(w, "{}", visitor.out.trim_start())
    }
}

struct LogfmtVisitor {
    out: String,
    message: Option<String>,
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.out.push_str(&format!(" {}={}", field.name(), quote(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Quotes a logfmt value when it needs it.
fn quote(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\') {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn logfmt_quoting() {
        assert_eq!(quote("smtp-dispatcher"), "smtp-dispatcher");
        assert_eq!(quote("check failed"), "\"check failed\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
