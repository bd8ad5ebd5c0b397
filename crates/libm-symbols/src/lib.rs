//! `exp` and `pow`, the only C math functions the agent's dependencies call
//! (hickory-resolver's decaying round-trip time and tokio's scheduler
//! statistics, through `f64::exp` and `f64::powf`), defined in the binary
//! from the pure-Rust `libm` crate (the one the Rust compiler's own builtins
//! use).
//!
//! Why: on Linux with glibc, two calls would otherwise make the dynamic
//! loader map all of `libm.so.6`, and about half a MiB of it stays resident
//! in every agent for two functions (docs/scaling.md, Memory, has the
//! figures). With these definitions the linker finds both in the binary and,
//! linking only the libraries it needs, leaves `libm.so.6` out.
//!
//! If a new dependency calls another C math function, `libm.so.6` is loaded
//! again, and `tests/agent.rs` (`no_libm_so_is_loaded`) says so: define that
//! function here the same way.
//!
//! It knows nothing of the agent. Empty on systems without glibc.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// `e` raised to `x`, as C's `exp`.
// SAFETY: no other object of the binary defines `exp` (libm.so.6 is left
// out, and this crate is linked on Linux with glibc only); it takes and
// returns plain floats, as C's declaration does.
#[unsafe(no_mangle)]
pub extern "C" fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// `x` raised to `y`, as C's `pow`.
// SAFETY: as for `exp`: the only `pow` of the binary, C's signature.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}
