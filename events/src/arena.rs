//! Arenas for the small byte strings the write path makes a record at a time
//! (a submission's canonical parts, a sealed record): each is a
//! [`bytes::Bytes`] of a shared buffer, so a few hundred of them cost one
//! allocation, and one free when the last of them is dropped, on whichever
//! thread that is. One each cost an allocation on the thread that made it
//! and a free on the thread that let it go, which mimalloc makes dear.

use bytes::{Bytes, BytesMut};

/// Bytes of an arena: a few hundred records or submissions. A value kept
/// alone keeps its arena alive, so this stays small.
pub const ARENA_BYTES: usize = 64 * 1024;

/// Makes room in `arena` for `length` more bytes, starting a new arena if
/// this one has too little left (the old one lives on in what shares it).
pub fn reserve(arena: &mut BytesMut, length: usize) {
    if arena.capacity() - arena.len() < length {
        *arena = BytesMut::with_capacity(length.max(ARENA_BYTES));
    }
}

/// What was written to `arena` since the last call, as a value of its own.
pub fn take(arena: &mut BytesMut) -> Bytes {
    arena.split().freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_share_an_arena_until_it_is_full_and_keep_their_bytes() {
        let mut arena = BytesMut::new();
        let mut values = Vec::new();
        for n in 0..1_000u32 {
            let text = format!("value {n} ").repeat(n as usize % 7 + 1);
            reserve(&mut arena, text.len());
            arena.extend_from_slice(text.as_bytes());
            values.push((text, take(&mut arena)));
        }
        for (text, value) in &values {
            assert_eq!(value.as_ref(), text.as_bytes());
        }
        let starts: std::collections::BTreeSet<usize> = values.iter().map(|(_, v)| v.as_ptr() as usize).collect();
        assert_eq!(starts.len(), values.len(), "no two values overlap");
        // 1,000 values of about 40 bytes: a single 64 KiB arena holds them.
        let (first, last) = (values[0].1.as_ptr() as usize, values[999].1.as_ptr() as usize);
        assert!(last - first < ARENA_BYTES, "consecutive values sit side by side in one arena");
        reserve(&mut arena, ARENA_BYTES * 2);
        assert!(arena.capacity() >= ARENA_BYTES * 2, "a value larger than an arena gets one of its own size");
    }
}
