//! The few Windows API calls ece-o365-exporter makes itself, as safe
//! functions over Microsoft's `windows-sys`: DPAPI (`dpapi`: protecting a
//! secret for this machine), the Event Log (`eventlog`: the event source
//! and its events) and a directory's access list (`acl`).
//!
//! This, `crates/glibc-malloc` and `crates/libm-symbols` are the crates of the workspace allowed `unsafe`; the agent's
//! crate stays `#![forbid(unsafe_code)]` and calls only what is exported
//! here. Every `unsafe` block holds one call and says why it is sound; every
//! buffer the system allocates is freed here, on every path. It knows
//! nothing of the agent (no configuration, no logging), and it must not put
//! a secret into an error: errors are the system's error codes only.
//!
//! Empty on other systems. Its tests run on Windows (or under wine:
//! `CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine64 cargo test --target
//! x86_64-pc-windows-gnu -p win-ffi`), and `tests/windows.rs` exercises each
//! function through the agent's `.exe` under wine.
#![cfg(windows)]

pub mod acl;
pub mod dpapi;
pub mod eventlog;
mod wide;

/// Whether this process runs under wine rather than Windows (wine's
/// `ntdll.dll` exports `wine_get_version`, Windows' does not). Wine accepts
/// an access list but does not keep it, so tests assert less there.
pub fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let Ok(ntdll) = wide::wide("ntdll.dll") else { return false };
    // SAFETY: the name is NUL-terminated; ntdll.dll is loaded in every process, and its handle needs no release.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return false;
    }
    // SAFETY: the module handle is valid and the name is a NUL-terminated ANSI string.
    unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}
