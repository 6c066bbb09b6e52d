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

/// How long mimalloc keeps freed memory before returning it to the system.
/// Its default (10 ms) made a producer/consumer pair (the import's parser
/// and the committer, a writer and the projector) fault in and zero fresh
/// huge pages again and again: a fifth of an import's time went to
/// `clear_page_erms`. Keeping freed pages for a second costs no peak memory.
pub const ALLOCATOR_PURGE_DELAY_MS: std::os::raw::c_long = 1_000;

/// `mi_option_purge_delay`'s index in mimalloc's `mi_option_e` (the same in
/// mimalloc v2 and v3; libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes mimalloc for the ledger (see [`ALLOCATOR_PURGE_DELAY_MS`]). Call it
/// first thing in a binary whose global allocator is mimalloc.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins, to measure or tune.
pub fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a plain integer option; mimalloc allows this at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) }
}

pub use store::{Appended, Ledger, Options};

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_index_is_purge_delay() {
        // purge_delay's documented default is 10 (ms); no other option of
        // mimalloc v2 or v3 near that index defaults to 10.
        // SAFETY: reads a plain integer option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert!(delay == 10 || delay == super::ALLOCATOR_PURGE_DELAY_MS, "{delay}");
    }
}
