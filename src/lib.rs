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

/// `mi_option_allow_thp`, likewise (mimalloc v3's `mi_option_e`).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// `PR_THP_DISABLE_EXCEPT_ADVISED` (Linux 6.18): with `PR_SET_THP_DISABLE`,
/// huge pages stay on where a mapping asked for them with `MADV_HUGEPAGE`.
const PR_THP_DISABLE_EXCEPT_ADVISED: libc::c_ulong = 1 << 1;

/// Tunes mimalloc for the ledger: freed pages are kept a second (see
/// [`ALLOCATOR_PURGE_DELAY_MS`]), and transparent huge pages only where
/// asked for. On mimalloc's memory they cost more than they gave: the
/// kernel zeroed 2 MiB at a time for small allocations and peak RSS rose
/// (`verify` of 1M records: 1,070 → 647 MiB without them, and faster). On
/// the big hash tables, which [`events::huge::Huge`] maps and advises
/// itself, they spare a TLB miss a lookup. So mimalloc stops advising,
/// what it advised before `main` is advised back, and the process disables
/// huge pages except where advised (on kernels before 6.18, which lack
/// that, everywhere, as before). Call it first thing in a binary whose
/// global allocator is mimalloc. `MIMALLOC_PURGE_DELAY` and
/// `MIMALLOC_ALLOW_THP` in the environment still win, to measure or tune.
pub fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: as above; mimalloc reads it each time it maps memory.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) }
    unadvise_huge_pages();
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory.
    unsafe {
        if libc::prctl(libc::PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0) != 0 {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// Advises `MADV_NOHUGEPAGE` on every mapping advised `MADV_HUGEPAGE` so
/// far: before `main` those are mimalloc's arenas, which it advised as it
/// started.
fn unadvise_huge_pages() {
    for (start, end) in advised_huge_pages() {
        // SAFETY: advice on a whole mapping of this process; it changes
        // which pages back it later, never its contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_NOHUGEPAGE) };
    }
}

/// The mappings of this process advised `MADV_HUGEPAGE`, as (start, end),
/// from `/proc/self/smaps` (none without `/proc`).
fn advised_huge_pages() -> Vec<(usize, usize)> {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return Vec::new() };
    let (mut range, mut advised) = (None, Vec::new());
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-') {
            range = usize::from_str_radix(start, 16).ok().zip(usize::from_str_radix(end, 16).ok());
        } else if let (Some(flags), Some(range)) = (line.strip_prefix("VmFlags:"), range) {
            if flags.split_whitespace().any(|flag| flag == "hg") {
                advised.push(range);
            }
        }
    }
    advised
}

#[cfg(test)]
mod tests {
    use allocator_api2::alloc::{Allocator, Layout};

    #[test]
    fn huge_pages_are_advised_for_the_big_tables_and_not_for_mimallocs_memory() {
        // mimalloc advises its first arena as it starts; this makes it start.
        // SAFETY: a plain allocation, freed below.
        let small = unsafe { libmimalloc_sys::mi_malloc(64) } as usize;
        super::tune_allocator();
        let layout = Layout::from_size_align(4 * events::huge::MAPPED_MIN, 16).unwrap();
        let block = events::huge::Huge.allocate(layout).unwrap().cast::<u8>();
        let at = block.as_ptr() as usize;
        let advised = super::advised_huge_pages();
        // SAFETY: allocated just above with this layout, and by mi_malloc.
        unsafe {
            events::huge::Huge.deallocate(block, layout);
            libmimalloc_sys::mi_free(small as *mut std::ffi::c_void);
        }
        let within = |at: usize| advised.iter().any(|(start, end)| (*start..*end).contains(&at));
        assert!(within(at), "the table's block at {at:x} is advised huge pages: {advised:x?}");
        assert!(!within(small), "mimalloc's memory at {small:x} is advised back: {advised:x?}");
    }

    /// The values of mimalloc's options `index - 1`, `index`, `index + 1`.
    fn with_neighbours(index: libmimalloc_sys::mi_option_t) -> (std::ffi::c_long, std::ffi::c_long, std::ffi::c_long) {
        // SAFETY: reads plain integer options.
        unsafe {
            (
                libmimalloc_sys::mi_option_get(index - 1),
                libmimalloc_sys::mi_option_get(index),
                libmimalloc_sys::mi_option_get(index + 1),
            )
        }
    }

    #[test]
    fn the_option_index_is_allow_thp() {
        // allow_thp defaults to 1 on Linux (0 once `tune_allocator` ran in
        // this process); the options beside it, page_cross_thread_max_reclaim
        // and minimal_purge_size, default to 32 and 0. A wrong index would
        // set some other option to 0.
        let (before, thp, after) = with_neighbours(super::MI_OPTION_ALLOW_THP);
        assert!(thp == 1 || thp == 0, "{thp}");
        assert_eq!((before, after), (32, 0), "the neighbours of allow_thp");
    }

    #[test]
    fn the_option_index_is_purge_delay() {
        // purge_delay's documented default is 10 (ms); the options beside it
        // (the deprecated eager_commit_delay, use_numa_nodes) default to 1
        // and 0, as `MIMALLOC_VERBOSE=1` lists them.
        let (before, delay, after) = with_neighbours(super::MI_OPTION_PURGE_DELAY);
        assert!(delay == 10 || delay == super::ALLOCATOR_PURGE_DELAY_MS, "{delay}");
        assert_eq!((before, after), (1, 0), "the neighbours of purge_delay");
    }
}
