//! amity: an event-sourced, hash-chained ledger of diplomatic activity.
//!
//! Module map:
//! - [`store`]: the sled log, its indexes, the committer thread and the
//!   anchor. The only module that imports sled.
//! - [`subscribe`]: streams of records after a position: catch up, then follow.
//! - [`server`]: the HTTP API and Server-Sent Events (axum). The only module
//!   that knows HTTP.
//! - [`cli`]: the `amity` command line (clap): one function per command.
//! - [`error`]: the crate's one error type and its exit codes.
//!
//! The vocabulary, validation, canonical encoding and hashing live in the
//! `events` crate; the views in `projections`. Neither does any I/O.

/// `eprintln!` that never panics: a message that cannot be written to
/// standard error (a closed pipe, a failing disk under it) is dropped
/// instead of ending the command with a panic (exit 101). `eprintln!`
/// panics on a failed write; seen under `fiu-run` fault injection.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
pub mod error;
pub mod relay;
pub mod server;
pub mod signing;
pub mod store;
pub mod subscribe;
pub mod web;
pub mod witness;

pub use error::{Error, Result};
pub use store::{Appended, Ledger, Options};

/// How long mimalloc keeps freed memory before returning it to the system.
/// Its default (10 ms) made a producer/consumer pair (the import's parser
/// and the committer, a writer and the projector) fault in and zero fresh
/// pages again and again. Keeping freed pages for a second costs no peak
/// memory.
pub const ALLOCATOR_PURGE_DELAY_MS: std::os::raw::c_long = 1_000;

/// `mi_option_purge_delay`: its index in the `mi_option_e` of mimalloc v3,
/// which libmimalloc-sys 0.1 builds by default and names no constant for.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes mimalloc for the ledger: freed pages are kept a second (see
/// [`ALLOCATOR_PURGE_DELAY_MS`]), and no transparent huge pages, which the
/// kernel zeroed 2 MiB at a time for small allocations, and which raised
/// peak RSS (`verify` of 1M records: 1,070 → 647 MiB without them, and
/// faster). Call it first thing in a binary whose global allocator is
/// mimalloc. `MIMALLOC_PURGE_DELAY` and `MIMALLOC_ALLOW_THP` in the
/// environment still win, to measure or tune.
pub fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) }
    }
    // Not mimalloc's `allow_thp` option: mimalloc acts on it only when it
    // starts (disabling THP for the process), before `main`, and the arena
    // it reserved by then is already advised to use huge pages. So disable
    // them as it would have.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_index_is_purge_delay() {
        // purge_delay's documented default is 10 (ms); the options beside it
        // (the deprecated eager_commit_delay, use_numa_nodes) default to 1
        // and 0, as `MIMALLOC_VERBOSE=1` lists them.
        // SAFETY: reads plain integer options.
        let (before, delay, after) = unsafe {
            (
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY - 1),
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY + 1),
            )
        };
        assert!(delay == 10 || delay == super::ALLOCATOR_PURGE_DELAY_MS, "{delay}");
        assert_eq!((before, after), (1, 0), "the neighbours of purge_delay");
    }
}
