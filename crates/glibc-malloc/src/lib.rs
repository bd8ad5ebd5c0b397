//! The glibc allocator setting ece-o365-exporter makes itself, as a safe
//! function over the `libc` crate: one malloc arena for the whole process
//! ([`use_one_arena`]).
//!
//! Why: glibc gives each thread that allocates an arena of its own, and
//! memory freed in one arena serves only that arena, so what one worker
//! thread freed is held while the other allocates anew. The agent's
//! allocations are small and its two workers mostly wait, so one arena costs
//! no measurable contention and holds a few MiB less at 10,000 checks
//! (docs/scaling.md, Memory, has the figures). Giving free pages back
//! periodically (`malloc_trim`) was measured too and left out: a few hundred
//! KiB, paid for in slower scrapes.
//!
//! Like `crates/win-ffi`, a crate of its own so that the agent's crate stays
//! `#![forbid(unsafe_code)]`: every `unsafe` block holds one call and says
//! why it is sound. It knows nothing of the agent. Empty on systems without
//! glibc; the agent calls it on Linux with glibc only.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Makes every thread allocate from the main arena (`mallopt(M_ARENA_MAX,
/// 1)`, what `MALLOC_ARENA_MAX=1` does). Call it before any other thread is
/// started: a thread that has already allocated keeps its arena. Returns
/// whether glibc took the setting.
pub fn use_one_arena() -> bool {
    // SAFETY: mallopt takes two integers, reads and writes only the
    // allocator's own parameters under its lock, and M_ARENA_MAX is a
    // parameter this glibc knows (it returns 0 for one it does not).
    let taken = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    taken == 1
}

/// Where the main arena's heap ends now (`sbrk(0)`): the main arena grows
/// the data segment, the others live in mappings of their own far above it.
/// For the tests, which tell from it which arena served an allocation.
pub fn main_heap_end() -> usize {
    // SAFETY: sbrk(0) only reads the current program break; it changes nothing.
    let end = unsafe { libc::sbrk(0) };
    end as usize
}
