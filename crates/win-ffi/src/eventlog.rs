//! The classic Event Log: registering an event source under the
//! Application log (a registry key naming the file whose message table
//! Event Viewer formats the events with) and reporting events to it.

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, HANDLE};
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE, RegisterEventSourceW, ReportEventW,
};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_WRITE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE, RegCloseKey, RegCreateKeyExW, RegDeleteKeyW,
    RegSetValueExW,
};

use crate::wide::wide;

/// The registry key (under `HKEY_LOCAL_MACHINE`) holding the Application log's sources.
pub const APPLICATION_SOURCES: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application";
/// The most UTF-16 units of one event string (the API's limit is 31,839).
const MAX_TEXT_UNITS: usize = 31_000;

/// An event's level, as Event Viewer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Information,
}

fn check(code: u32) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code as i32))
    }
}

/// An open registry key, closed when dropped.
struct Key(HKEY);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by RegCreateKeyExW and is closed once, here.
        unsafe { RegCloseKey(self.0) };
    }
}

impl Key {
    fn set(&self, name: &str, kind: u32, data: &[u8]) -> io::Result<()> {
        let name = wide(name)?;
        let len = u32::try_from(data.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "registry value too large"))?;
        // SAFETY: the key is open; `name` is NUL-terminated; `data` holds `len` bytes, alive for the call.
        check(unsafe { RegSetValueExW(self.0, name.as_ptr(), 0, kind, data.as_ptr(), len) })
    }
}

/// Registers `source` under the Application log: the key
/// `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\<source>`
/// with `EventMessageFile` (`REG_EXPAND_SZ`, e.g.
/// `%SystemRoot%\System32\EventCreate.exe`) and `TypesSupported` (error,
/// warning, information). Replaces the values of an existing key.
/// Needs Administrator rights.
pub fn register_source(source: &str, message_file: &str) -> io::Result<()> {
    let path = wide(format!(r"{APPLICATION_SOURCES}\{source}"))?;
    let mut key: HKEY = ptr::null_mut();
    // SAFETY: `path` is NUL-terminated; class and security attributes may be null; `key` and the
    // disposition (null: not wanted) are valid places for the results.
    let code = unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            path.as_ptr(),
            0,
            ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_WRITE,
            ptr::null(),
            &mut key,
            ptr::null_mut(),
        )
    };
    check(code)?;
    let key = Key(key);
    let file: Vec<u8> = wide(message_file)?.iter().flat_map(|u| u.to_le_bytes()).collect();
    key.set("EventMessageFile", REG_EXPAND_SZ, &file)?;
    let types = u32::from(EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE);
    key.set("TypesSupported", REG_DWORD, &types.to_le_bytes())
}

/// Removes what [`register_source`] registered; `Ok(false)` when it was not registered.
pub fn unregister_source(source: &str) -> io::Result<bool> {
    let path = wide(format!(r"{APPLICATION_SOURCES}\{source}"))?;
    // SAFETY: `path` is NUL-terminated and alive for the call.
    match unsafe { RegDeleteKeyW(HKEY_LOCAL_MACHINE, path.as_ptr()) } {
        0 => Ok(true),
        ERROR_FILE_NOT_FOUND => Ok(false),
        code => Err(io::Error::from_raw_os_error(code as i32)),
    }
}

/// A handle for reporting events under a source; deregistered when dropped.
#[derive(Debug)]
pub struct EventSource(HANDLE);

// SAFETY: an event log handle is not tied to the thread that opened it, and
// ReportEventW may be called on it from any thread.
unsafe impl Send for EventSource {}
// SAFETY: as above: ReportEventW is safe to call concurrently on one handle.
unsafe impl Sync for EventSource {}

impl EventSource {
    /// Opens `source` on this machine. This succeeds even when the source is
    /// not registered (events then go to the Application log, and Event
    /// Viewer shows them without a message file).
    pub fn open(source: &str) -> io::Result<EventSource> {
        let name = wide(source)?;
        // SAFETY: a null server name means this machine; `name` is NUL-terminated and alive for the call.
        let handle = unsafe { RegisterEventSourceW(ptr::null(), name.as_ptr()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(EventSource(handle))
    }

    /// Reports one event with `text` as its only insertion string (`%1`),
    /// cut to 31,000 UTF-16 units.
    pub fn report(&self, level: Level, id: u32, text: &str) -> io::Result<()> {
        let kind = match level {
            Level::Error => EVENTLOG_ERROR_TYPE,
            Level::Warning => EVENTLOG_WARNING_TYPE,
            Level::Information => EVENTLOG_INFORMATION_TYPE,
        };
        let mut units: Vec<u16> = text.encode_utf16().map(|u| if u == 0 { u16::from(b' ') } else { u }).collect();
        units.truncate(MAX_TEXT_UNITS);
        units.push(0);
        let strings = [units.as_ptr()];
        // SAFETY: the handle is open; no user SID and no raw data; `strings` holds one NUL-terminated
        // string, both alive for the call.
        let ok = unsafe { ReportEventW(self.0, kind, 0, id, ptr::null_mut(), 1, 0, strings.as_ptr(), ptr::null()) };
        if ok == 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is deregistered once, here.
        unsafe { DeregisterEventSource(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_each_level_are_reported() {
        let source = EventSource::open("win-ffi-test").unwrap();
        for (level, id) in [(Level::Information, 1), (Level::Warning, 2), (Level::Error, 3)] {
            source.report(level, id, "win-ffi test event\nsecond line").unwrap();
        }
        source.report(Level::Information, 4, &"x".repeat(40_000)).unwrap();
    }

    #[test]
    fn a_source_is_registered_then_removed() {
        let source = format!("win-ffi-test-{}", std::process::id());
        register_source(&source, r"%SystemRoot%\System32\EventCreate.exe").unwrap();
        register_source(&source, r"%SystemRoot%\System32\EventCreate.exe").unwrap();
        assert!(unregister_source(&source).unwrap(), "it was there");
        assert!(!unregister_source(&source).unwrap(), "it is gone");
    }
}
