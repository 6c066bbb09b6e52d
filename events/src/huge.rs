//! The big hash tables' memory, on huge pages. The fold's and the
//! knowledge's tables (interned strings, ids → seqs, entities) are read at
//! random, one cache miss a lookup; once they outgrow the caches (tens of
//! MiB at 1M records, hundreds at 10M) each miss on 4 KiB pages is also a
//! TLB miss whose page walk misses too. A 2 MiB page covers 512 times as
//! much. [`Huge`] gives an allocation of at least [`MAPPED_MIN`] its own
//! mapping, aligned to 2 MiB and advised `MADV_HUGEPAGE`; anything smaller
//! comes from the global allocator as before. The rest of the process keeps
//! 4 KiB pages (see `amity::tune_allocator`, which disables huge pages
//! except where advised): small allocations on huge pages cost memory.
//!
//! Memory management, not I/O: the advice changes no result, only speed,
//! and where the kernel has no huge pages to give the mapping stays on
//! small ones.

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use std::ptr::NonNull;

/// A huge page on x86-64 and most of aarch64.
const HUGE_PAGE: usize = 2 << 20;

/// Allocations at least this big get a mapping of their own: two huge
/// pages, so that rounding up wastes at most a third.
pub const MAPPED_MIN: usize = 2 * HUGE_PAGE;

/// The allocator of the big hash tables (see the module doc). A unit
/// value: tables that use it clone, compare and serialize as before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Huge;

fn mapped(layout: Layout) -> bool {
    layout.size() >= MAPPED_MIN && layout.align() <= HUGE_PAGE
}

fn mapped_len(layout: Layout) -> usize {
    layout.size().next_multiple_of(HUGE_PAGE)
}

// SAFETY: a mapped block is `mapped_len` bytes of fresh anonymous memory,
// aligned to 2 MiB (so to `layout.align()`), owned by no one else until it
// is unmapped in `deallocate` with the same length; everything else is the
// global allocator's, under the same layout.
unsafe impl Allocator for Huge {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !mapped(layout) {
            return Global.allocate(layout);
        }
        let len = mapped_len(layout);
        // Map a huge page more than needed, then unmap the ends, so that
        // the block starts on a 2 MiB boundary.
        let over = len + HUGE_PAGE;
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                over,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(AllocError);
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let (head, tail) = (aligned - start, start + over - (aligned + len));
        // SAFETY: both ranges lie inside the mapping just made and outside
        // the block handed out.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
            // Advice only: if refused, the block works on small pages.
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
        let block = NonNull::new(aligned as *mut u8).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(block, len))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if !mapped(layout) {
            // SAFETY: the caller's promise: `ptr` came from `allocate` with
            // this layout, which for it was the global allocator's.
            return unsafe { Global.deallocate(ptr, layout) };
        }
        // SAFETY: `allocate` mapped exactly this block for this layout.
        unsafe { libc::munmap(ptr.as_ptr().cast(), mapped_len(layout)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_big_blocks_are_usable_aligned_and_given_back() {
        for (size, align) in [(24, 8), (MAPPED_MIN - 1, 16), (MAPPED_MIN, 16), (3 * MAPPED_MIN + 5, 64)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let block = Huge.allocate(layout).expect("memory");
            assert!(block.len() >= size, "{size}: {} bytes given", block.len());
            let ptr = block.cast::<u8>();
            assert_eq!(ptr.as_ptr() as usize % align, 0, "{size} is aligned to {align}");
            if mapped(layout) {
                assert_eq!(ptr.as_ptr() as usize % HUGE_PAGE, 0, "a mapped block starts on a huge page");
            }
            // SAFETY: `block` is at least `size` writable bytes, ours until deallocated.
            unsafe {
                std::ptr::write_bytes(ptr.as_ptr(), 0xa5, size);
                assert_eq!(*ptr.as_ptr().add(size - 1), 0xa5);
                Huge.deallocate(ptr, layout);
            }
        }
    }

    #[test]
    fn a_table_on_huge_memory_grows_past_the_threshold_and_finds_everything() {
        let mut table: hashbrown::HashTable<u64, Huge> = hashbrown::HashTable::new_in(Huge);
        let hash = |n: &u64| n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for n in 0..1_000_000u64 {
            table.insert_unique(hash(&n), n, hash);
        }
        assert!(table.allocation_size() >= MAPPED_MIN, "the table left the global allocator");
        assert!((0..1_000_000u64).all(|n| table.find(hash(&n), |m| *m == n).is_some()));
        assert!(table.find(hash(&1_000_000), |m| *m == 1_000_000).is_none());
        let copy = table.clone();
        drop(table);
        assert_eq!(copy.len(), 1_000_000);
    }
}
