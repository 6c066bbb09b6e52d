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

pub mod cli;
pub mod error;
pub mod relay;
pub mod server;
pub mod store;
pub mod subscribe;

pub use error::{Error, Result};
pub use store::{Appended, Ledger, Options};

/// How long mimalloc keeps freed memory before returning it to the system.
/// Its default (10 ms) made a producer/consumer pair (the import's parser
/// and the committer, a writer and the projector) fault in and zero fresh
/// pages again and again. Keeping freed pages for a second costs no peak
/// memory.
pub const ALLOCATOR_PURGE_DELAY_MS: std::os::raw::c_long = 1_000;

/// `mi_option_purge_delay` and `mi_option_allow_thp`: their indexes in the
/// `mi_option_e` of mimalloc v3, which libmimalloc-sys 0.1 builds by
/// default and names no constants for.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Tunes mimalloc for the ledger: freed pages are kept a second (see
/// [`ALLOCATOR_PURGE_DELAY_MS`]), and no transparent huge pages, which the
/// kernel zeroed 2 MiB at a time for small allocations, and which raised
/// peak RSS (`verify` of 1M records: 1,070 → 647 MiB without them, and
/// faster). Call it first thing in a binary whose global allocator is
/// mimalloc. `MIMALLOC_PURGE_DELAY` and `MIMALLOC_ALLOW_THP` in the
/// environment still win, to measure or tune.
pub fn tune_allocator() {
    for (option, variable, value) in [
        (MI_OPTION_PURGE_DELAY, "MIMALLOC_PURGE_DELAY", ALLOCATOR_PURGE_DELAY_MS),
        (MI_OPTION_ALLOW_THP, "MIMALLOC_ALLOW_THP", 0),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: sets a plain integer option; mimalloc allows this at any time.
            unsafe { libmimalloc_sys::mi_option_set(option, value) }
        }
    }
    // mimalloc acts on `allow_thp = 0` only when it starts (it then disables
    // THP for the process), before `main`; the arena it reserved by then is
    // already advised to use huge pages. So disable them as it would.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_indexes_are_purge_delay_and_allow_thp() {
        // purge_delay's documented default is 10 (ms), allow_thp's 1; the
        // options beside them default to other values.
        // SAFETY: reads plain integer options.
        let (delay, thp) = unsafe {
            (
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                libmimalloc_sys::mi_option_get(super::MI_OPTION_ALLOW_THP),
            )
        };
        assert!(delay == 10 || delay == super::ALLOCATOR_PURGE_DELAY_MS, "{delay}");
        assert!(thp == 1 || thp == 0, "{thp}");
        // SAFETY: as above.
        let next = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_ALLOW_THP + 1) };
        assert_ne!(next, 1, "the option after allow_thp (minimal_purge_size) is not a flag set to 1");
    }
}
