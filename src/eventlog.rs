//! The Windows Event Log of the service: which log events become Event Log
//! events (start and stop, a configuration that fails to load or reload, a
//! check changing state, the web endpoint's listen failure), with their
//! stable ids and levels ([`EventId`], documented in docs/windows.md), and
//! the `tracing` layer that writes them through a [`Sink`].
//!
//! It owns the mapping and the state it needs: a check's failure is one
//! event when it starts failing (or fails for another reason or in another
//! phase), its recovery one more, never one per run. It must not decide what
//! is logged (it only reads the log events the rest of the agent emits, by
//! their message) and must not write anywhere itself: the binary gives it a
//! sink, on Windows the source [`SOURCE`] (`win-ffi`), only when it runs as
//! the service. It knows nothing else of the crate.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The event source, under the Application log.
pub const SOURCE: &str = "ece-o365-exporter";
/// The message file registered for [`SOURCE`]: Windows' own `EventCreate.exe`,
/// whose message table shows an event's text as is for ids 1 to 1000 (as
/// Go's `eventlog.InstallAsEventCreate`, used by windows_exporter, does).
pub const MESSAGE_FILE: &str = r"%SystemRoot%\System32\EventCreate.exe";
/// At most this many checks' states are remembered (a reload may rename them all).
const MAX_TRACKED_CHECKS: usize = 100_000;

/// The stable event ids (EventCreate.exe accepts 1 to 1000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum EventId {
    /// Information: the service started (version, configuration file, checks).
    Started = 1,
    /// Information: the service is stopping.
    Stopping = 2,
    /// Error: the service failed (the service control manager's side).
    ServiceFailed = 3,
    /// Error: the configuration could not be loaded at start (file, line, field).
    ConfigInvalid = 10,
    /// Error: a reload failed; the last good configuration keeps running.
    ReloadFailed = 11,
    /// Information: the configuration was reloaded.
    Reloaded = 12,
    /// Warning: a check started failing (reason, phase), or fails differently.
    CheckFailing = 20,
    /// Information: a failing check passed again.
    CheckRecovered = 21,
    /// Error: the web endpoint cannot listen on its address.
    ListenFailed = 30,
}

impl EventId {
    /// The id as the Event Log shows it.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// An event's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Information,
}

/// One Event Log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub level: Level,
    pub text: String,
}

/// Where events go (on Windows the event source; in tests a list).
pub trait Sink: Send + Sync + 'static {
    fn write(&self, event: &Event);
}

/// The message and fields of one log event.
#[derive(Default, Debug)]
pub struct Fields {
    pub message: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Fields {
    fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str())
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name(), text));
        }
    }
}

/// Turns log events into Event Log events; remembers which checks fail.
#[derive(Debug, Default)]
pub struct Mapper {
    /// Failing checks: name -> (reason, phase).
    failing: HashMap<String, (String, String)>,
    /// The configuration file, from the start event, for the stop event.
    config: String,
}

impl Mapper {
    /// The Event Log event for a log event, if it is one.
    pub fn map(&mut self, e: &Fields) -> Option<Event> {
        let (id, level, text) = match e.message.as_str() {
            "starting" => {
                self.config = e.get("config").to_string();
                (
                    EventId::Started,
                    Level::Information,
                    format!(
                        "ece-o365-exporter {} started with the configuration {} ({} checks).",
                        e.get("version"),
                        self.config,
                        e.get("checks")
                    ),
                )
            }
            "shutting down" => (
                EventId::Stopping,
                Level::Information,
                format!("ece-o365-exporter {} is stopping (configuration {}).", crate::VERSION, self.config),
            ),
            "the service failed" => (
                EventId::ServiceFailed,
                Level::Error,
                format!("The service failed: {}", e.get("error")),
            ),
            "configuration load failed" => (
                EventId::ConfigInvalid,
                Level::Error,
                format!("The configuration cannot be loaded, the service does not start: {}", e.get("error")),
            ),
            m if m.starts_with("configuration reload failed") => (
                EventId::ReloadFailed,
                Level::Error,
                format!(
                    "The configuration cannot be reloaded; the last good configuration keeps running: {}",
                    e.get("error")
                ),
            ),
            "configuration reloaded" => (
                EventId::Reloaded,
                Level::Information,
                format!(
                    "The configuration was reloaded: {} checks kept, {} started, {} stopped.",
                    e.get("kept"),
                    e.get("started"),
                    e.get("stopped")
                ),
            ),
            "check failed" => {
                let state = (e.get("reason").to_string(), e.get("phase").to_string());
                let check = e.get("check");
                if self.failing.get(check) == Some(&state) {
                    return None;
                }
                if self.failing.len() >= MAX_TRACKED_CHECKS && !self.failing.contains_key(check) {
                    self.failing.clear();
                }
                self.failing.insert(check.to_string(), state);
                (
                    EventId::CheckFailing,
                    Level::Warning,
                    format!(
                        "Check {check} ({} {}) is failing: reason {}, phase {}.\n{}",
                        e.get("kind"),
                        e.get("target"),
                        e.get("reason"),
                        e.get("phase"),
                        e.get("detail")
                    ),
                )
            }
            "check recovered" => {
                let check = e.get("check");
                self.failing.remove(check);
                (
                    EventId::CheckRecovered,
                    Level::Information,
                    format!("Check {check} ({} {}) passes again.", e.get("kind"), e.get("target")),
                )
            }
            "cannot listen" => (
                EventId::ListenFailed,
                Level::Error,
                format!("The web endpoint cannot listen on {}: {}", e.get("address"), e.get("error")),
            ),
            _ => return None,
        };
        Some(Event { id, level, text })
    }
}

/// The `tracing` layer: maps each event the agent logs and writes the
/// Event Log events to `sink`. Give it its own filter (INFO and above of
/// this crate), so that `--log.level` does not hide a check's failure from it.
pub struct EventLogLayer<K: Sink> {
    mapper: Mutex<Mapper>,
    sink: K,
}

impl<K: Sink> EventLogLayer<K> {
    pub fn new(sink: K) -> Self {
        EventLogLayer {
            mapper: Mutex::new(Mapper::default()),
            sink,
        }
    }
}

impl<S: Subscriber, K: Sink> Layer<S> for EventLogLayer<K> {
    fn on_event(&self, event: &TracingEvent<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // The lock is released before the sink runs: a sink that logs comes back here.
        let mapped = self.mapper.lock().unwrap_or_else(PoisonError::into_inner).map(&fields);
        if let Some(e) = mapped {
            self.sink.write(&e);
        }
    }
}

/// Registers [`SOURCE`] under the Application log with [`MESSAGE_FILE`] (as Administrator).
#[cfg(windows)]
pub fn register_source() -> std::io::Result<()> {
    win_ffi::eventlog::register_source(SOURCE, MESSAGE_FILE)
}

/// Removes [`SOURCE`]'s registration; `Ok(false)` when there was none.
#[cfg(windows)]
pub fn unregister_source() -> std::io::Result<bool> {
    win_ffi::eventlog::unregister_source(SOURCE)
}

/// The Event Log as a sink: each event reported under [`SOURCE`].
#[cfg(windows)]
struct WindowsSink(win_ffi::eventlog::EventSource);

#[cfg(windows)]
impl Sink for WindowsSink {
    fn write(&self, e: &Event) {
        use win_ffi::eventlog::Level as L;
        let level = match e.level {
            Level::Error => L::Error,
            Level::Warning => L::Warning,
            Level::Information => L::Information,
        };
        match self.0.report(level, e.id.code(), &e.text) {
            Ok(()) => tracing::debug!(id = e.id.code(), "event log: wrote an event"),
            Err(err) => tracing::debug!(id = e.id.code(), error = %err, "event log: cannot write an event"),
        }
    }
}

/// The layer that writes the service's events to the Event Log under
/// [`SOURCE`], filtered to this crate's events at INFO and above whatever
/// `--log.level` says.
#[cfg(windows)]
pub fn windows_layer() -> std::io::Result<Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>> {
    let source = win_ffi::eventlog::EventSource::open(SOURCE)?;
    let filter = tracing_subscriber::filter::Targets::new().with_target("ece_o365_exporter", tracing::Level::INFO);
    Ok(Box::new(EventLogLayer::new(WindowsSink(source)).with_filter(filter)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Event>>>);

    impl Sink for Recorder {
        fn write(&self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    fn fail(check: &str, reason: &str, phase: &str) {
        tracing::warn!(
            check,
            kind = "tcp",
            target = "h:993",
            phase,
            reason,
            detail = "refused",
            "check failed"
        );
    }

    #[test]
    fn a_check_changing_state_is_one_event_per_change_not_per_run() {
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(EventLogLayer::new(recorder.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(version = "1.2.3", config = r"C:\ProgramData\x\config.yaml", checks = 4, "starting");
            fail("imap", "connect_refused", "connect");
            fail("imap", "connect_refused", "connect");
            fail("imap", "timeout", "connect");
            fail("smtp", "timeout", "greeting");
            tracing::debug!(check = "imap", "check succeeded");
            tracing::info!(check = "imap", kind = "tcp", target = "h:993", "check recovered");
            fail("imap", "timeout", "connect");
            tracing::info!(address = "127.0.0.1:9865", "listening");
            tracing::error!(
                error = "config.yaml:3:5 checks[0].target: bad",
                "configuration reload failed; the last good one runs"
            );
            tracing::error!(address = ":9865", error = "address in use", "cannot listen");
            tracing::info!("shutting down");
        });
        let events = recorder.0.lock().unwrap().clone();
        let ids: Vec<(u32, Level)> = events.iter().map(|e| (e.id.code(), e.level)).collect();
        assert_eq!(
            ids,
            [
                (1, Level::Information),
                (20, Level::Warning),
                (20, Level::Warning),
                (20, Level::Warning),
                (21, Level::Information),
                (20, Level::Warning),
                (11, Level::Error),
                (30, Level::Error),
                (2, Level::Information),
            ]
        );
        assert_eq!(
            events[0].text,
            r"ece-o365-exporter 1.2.3 started with the configuration C:\ProgramData\x\config.yaml (4 checks)."
        );
        assert_eq!(
            events[1].text,
            "Check imap (tcp h:993) is failing: reason connect_refused, phase connect.\nrefused"
        );
        assert!(events[2].text.contains("reason timeout"), "{}", events[2].text);
        assert!(events[3].text.starts_with("Check smtp "), "{}", events[3].text);
        assert!(
            events[6].text.ends_with("config.yaml:3:5 checks[0].target: bad"),
            "{}",
            events[6].text
        );
        assert!(events[8].text.contains(r"C:\ProgramData\x\config.yaml"), "{}", events[8].text);
    }

    #[test]
    fn every_id_is_within_eventcreates_range_and_unique() {
        let ids = [
            EventId::Started,
            EventId::Stopping,
            EventId::ServiceFailed,
            EventId::ConfigInvalid,
            EventId::ReloadFailed,
            EventId::Reloaded,
            EventId::CheckFailing,
            EventId::CheckRecovered,
            EventId::ListenFailed,
        ];
        let codes: std::collections::HashSet<u32> = ids.iter().map(|i| i.code()).collect();
        assert_eq!(codes.len(), ids.len());
        assert!(codes.iter().all(|c| (1..=1000).contains(c)), "{codes:?}");
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/windows.md")).unwrap();
        for id in ids {
            assert!(
                doc.contains(&format!("| {} |", id.code())),
                "event {} ({id:?}) is not in docs/windows.md",
                id.code()
            );
        }
    }
}
