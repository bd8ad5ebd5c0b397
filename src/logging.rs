//! Log output: logfmt (the Prometheus exporters' default) or JSON, on stderr
//! or (`--log.file`, a Windows service has no console) in a size-bounded file,
//! filtered by `--log.level`; and, beside the lines, one other consumer of the
//! events the binary may add (the Windows service's Event Log). Check context (check, kind, target) is attached
//! to every line a check logs. It never decides what is logged.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Where a log file may grow to before it is moved to `<file>.1` (the one
/// older file kept): at most twice this on disk.
pub const LOG_FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Another consumer of the log events beside the log lines, with a filter
/// of its own (the Windows service's Event Log).
pub type ExtraLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber. `level` is `error|warn|info|debug|trace`
/// or a list of them by target (`info,ece_o365_exporter=debug`); it filters
/// the lines, not `extra`. With `file`, lines go to that file (see
/// [`LogFile`]) instead of stderr.
pub fn init(level: &str, format: LogFormat, file: Option<&Path>, extra: Option<ExtraLayer>) -> Result<(), String> {
    let filter = parse_level(level).map_err(|e| format!("--log.level `{level}`: {e}"))?;
    let writer = match file {
        None => BoxMakeWriter::new(std::io::stderr),
        Some(path) => {
            let file = LogFile::open(path, LOG_FILE_MAX_BYTES).map_err(|e| format!("--log.file `{}`: {e}", path.display()))?;
            BoxMakeWriter::new(Mutex::new(file))
        }
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    // No colour codes in a file.
    let lines = if file.is_some() { lines.with_ansi(false) } else { lines };
    let registry = tracing_subscriber::registry().with(extra);
    let result = match format {
        LogFormat::Json => registry
            .with(lines.json().flatten_event(true).with_current_span(false).with_filter(filter))
            .try_init(),
        LogFormat::Logfmt => registry
            .with(lines.fmt_fields(LogfmtFields).event_format(Logfmt).with_filter(filter))
            .try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// `--log.level`: comma-separated, each a level (`info`) or `target=level`.
/// tracing-subscriber's `Targets` rather than its `EnvFilter`: the same
/// syntax for what an admin writes here, without span and field filters and
/// the regular expression engine they bring (compiled at start, it was part
/// of the idle agent's memory, docs/scaling.md). A bare word that is not a
/// level is refused: `Targets` would read it as a target, and log nothing else.
pub fn parse_level(level: &str) -> Result<Targets, String> {
    let directives: Vec<&str> = level.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    for directive in &directives {
        let level = directive.rsplit_once('=').map_or(*directive, |(_, level)| level);
        level
            .parse::<LevelFilter>()
            .map_err(|_| format!("`{level}` is not a level (error, warn, info, debug, trace or off)"))?;
    }
    directives.join(",").parse::<Targets>().map_err(|e| e.to_string())
}

/// An append-only log file bounded in size: a write that would take it past
/// `max_bytes` first moves it to `<file>.1` (replacing the older one) and
/// starts a new file. If that move fails, the file is emptied instead, so the
/// bound holds whatever the file system does. Each log line reaches it in one
/// write, so lines are never split across the two files.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    max_bytes: u64,
}

impl LogFile {
    /// Opens (creating it and its directory) the file to append to.
    pub fn open(path: &Path, max_bytes: u64) -> io::Result<LogFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Some(file),
            written,
            max_bytes,
        })
    }

    /// The older file, `<file>.1`.
    pub fn rotated_path(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".1");
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        // Windows cannot rename an open file, nor rename onto an existing one.
        self.file = None;
        let older = self.rotated_path();
        let moved = match fs::remove_file(&older) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        } && fs::rename(&self.path, &older).is_ok();
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        if !moved {
            file.set_len(0)?;
        }
        self.written = 0;
        self.file = Some(file);
        Ok(())
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written.saturating_add(buf.len() as u64) > self.max_bytes {
            self.rotate()?;
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => return Err(io::Error::other("log file not open")),
        };
        let n = file.write(buf)?;
        self.written = self.written.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
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
    use std::fs;
    use std::io::Write;

    use super::{LogFile, parse_level, quote};
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn log_level_is_a_level_or_levels_by_target() {
        let info = parse_level("info").unwrap();
        assert!(info.would_enable("anything", &Level::INFO));
        assert!(!info.would_enable("anything", &Level::DEBUG));
        let mixed = parse_level("warn, ece_o365_exporter=debug").unwrap();
        assert!(mixed.would_enable("ece_o365_exporter::checks", &Level::DEBUG));
        assert!(!mixed.would_enable("hyper", &Level::INFO));
        assert_eq!(parse_level("off").unwrap().default_level(), Some(LevelFilter::OFF));
        for bad in ["verbose", "info,chatty", "ece_o365_exporter=loud", "a=b=c"] {
            assert!(parse_level(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse_level("verbose").unwrap_err().contains("`verbose` is not a level"));
    }

    #[test]
    fn log_file_stays_bounded_and_keeps_one_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("agent.log");
        let mut log = LogFile::open(&path, 160).unwrap();
        let line = |i: usize| format!("ts=now level=info msg=\"line {i:03}\" padding=xxxxxxxx\n");
        for i in 0..20 {
            log.write_all(line(i).as_bytes()).unwrap();
            assert!(fs::metadata(&path).unwrap().len() <= 160, "after line {i}");
        }
        let current = fs::read_to_string(&path).unwrap();
        let older = fs::read_to_string(log.rotated_path()).unwrap();
        assert!(current.ends_with(&line(19)), "{current}");
        assert!(!older.is_empty() && older.len() <= 160, "{older}");
        // Whole lines only, in order, nothing lost between the two files.
        let all: String = (0..20).map(line).collect();
        assert!(all.ends_with(&format!("{older}{current}")), "{older}{current}");
        // Reopening appends and keeps counting what is already there.
        drop(log);
        let mut log = LogFile::open(&path, 160).unwrap();
        for i in 20..23 {
            log.write_all(line(i).as_bytes()).unwrap();
        }
        assert!(fs::metadata(&path).unwrap().len() <= 160);
        assert!(fs::read_to_string(&path).unwrap().ends_with(&line(22)));
    }

    #[test]
    fn logfmt_quoting() {
        assert_eq!(quote("smtp-dispatcher"), "smtp-dispatcher");
        assert_eq!(quote("check failed"), "\"check failed\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
