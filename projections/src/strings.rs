//! The views' text, interned: every string a fact keeps (party ids, dates,
//! titles, units, ids) is stored once in one arena and named by a 4-byte
//! [`Sym`]. Facts repeat a few strings many times (the same parties, the
//! same units and currencies, the same days), and a `String` or an inline
//! `CompactString` costs 24 bytes a field before its text; a `Sym` costs 4.
//!
//! Append-only, like the log it folds: a string once interned stays, so a
//! `Sym` never dangles and an older fold's syms stay valid in a newer one.

use events::huge::Huge;
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

/// A string in [`Strings`]: its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sym(u32);

/// The arena: each string's bytes one after another in `text`, where the
/// string numbered `i` ends at `ends[i]` and starts where `i - 1` ends, and a
/// hash table of their numbers to find a string already interned.
#[derive(Default, Clone)]
pub struct Strings {
    text: String,
    ends: Vec<u64>,
    table: Table,
    /// Seeded per process (foldhash), so crafted texts cannot force collisions.
    hasher: foldhash::fast::RandomState,
}

/// The table: open addressing with linear probing, a string's home slot
/// the top bits of its hash. Once it outgrows the caches (at 10M records
/// it is hundreds of MiB) a lookup costs the cache misses it takes, and
/// this layout takes one where hashbrown's takes two (its control bytes,
/// then the slot): the slot holds what is compared. And the slot a string
/// will be found in is known from its hash alone, so the fold asks for the
/// slots of the events it will fold next ([`Strings::prefetch`]) and
/// their misses overlap. At 10M records, looking up strings already
/// interned took 111 ns each in hashbrown, 63 ns here, 43 ns with the
/// slots asked for eight lookups ahead (a throwaway benchmark, 10M ids,
/// this table at most 3/4 full); the 10M rebuild's decode ∥ fold went
/// from ~300k to ~340k records/s (BENCHMARKS.md, twenty-first pass).
///
/// Home by top bits keeps the slots in hash order, so doubling the table
/// moves each slot to about twice its index: growing is a sequential sweep
/// instead of one random write a string.
#[derive(Clone)]
struct Table {
    slots: allocator_api2::vec::Vec<Slot, Huge>,
    /// 64 minus log2 of the number of slots.
    shift: u32,
    len: usize,
}

/// The smallest table, which an empty one starts as (384 bytes), so that
/// no lookup has to ask whether there are slots at all.
impl Default for Table {
    fn default() -> Table {
        let mut slots = allocator_api2::vec::Vec::with_capacity_in(SLOTS_MIN, Huge);
        slots.resize(SLOTS_MIN, Slot::EMPTY);
        Table { slots, shift: 64 - SLOTS_MIN.trailing_zeros(), len: 0 }
    }
}

/// At most seven slots in eight are used, as in hashbrown: the same memory
/// (at 1M records the views hold ~400k strings, which three in four would
/// put in twice the slots). At that load a lookup probes ~4.5 slots (two
/// cache lines) and a new string's insert more; the table spends about
/// half its life under 3/4 full, where they probe ~2.5 and ~8.5.
const LOAD_NUMERATOR: usize = 7;
const LOAD_DENOMINATOR: usize = 8;
const SLOTS_MIN: usize = 16;

impl Table {
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The sym in the slot that `holds` accepts, or the empty slot where
    /// the string belongs.
    fn probe(&self, hash: u64, holds: impl Fn(&Slot) -> bool) -> Result<u32, usize> {
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.sym == EMPTY {
                return Err(i);
            }
            if holds(slot) {
                return Ok(slot.sym);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Puts `slot` in the empty slot `at` (as [`Table::probe`] found it),
    /// growing the table if that fills it past its load.
    fn insert(&mut self, at: usize, slot: Slot, hash_of: impl Fn(&Slot) -> u64) {
        self.slots[at] = slot;
        self.len += 1;
        if self.len * LOAD_DENOMINATOR > self.slots.len() * LOAD_NUMERATOR {
            self.grow(hash_of);
        }
    }

    /// Doubles the slots, moving each used one to its place in the new.
    fn grow(&mut self, hash_of: impl Fn(&Slot) -> u64) {
        let slots = self.slots.len() * 2;
        let mut fresh = allocator_api2::vec::Vec::with_capacity_in(slots, Huge);
        fresh.resize(slots, Slot::EMPTY);
        let old = std::mem::replace(&mut self.slots, fresh);
        self.shift -= 1;
        for slot in old.iter().filter(|slot| slot.sym != EMPTY) {
            let at = self.probe(hash_of(slot), |_| false).expect_err("no slot is compared");
            self.slots[at] = *slot;
        }
    }

    /// Asks the memory for `hash`'s home slot (both of its cache lines),
    /// without waiting for it.
    fn prefetch(&self, hash: u64) {
        let slot = &self.slots[self.home(hash)];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let first = std::ptr::from_ref(slot).cast::<i8>();
            // SAFETY: x86-64 always has SSE; a prefetch reads nothing and
            // cannot fault, and both addresses are inside the table anyway.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(first);
                _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(size_of::<Slot>() - 1));
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }
}

/// A string's number in the table, with the string itself when it is
/// short (a day, a party id, an agreement's id, a unit: most of what is
/// looked up). Finding a short string then reads the table only; a longer
/// one is compared in the arena, which for a string interned long ago is
/// two cache misses (its end, then its text). In a 1M import, interning
/// was half of the projector's time, most of it those misses; with the
/// strings inline it is under a third. A slot is 24 bytes instead of 4.
/// A long string's slot keeps its hash where a short one keeps its bytes,
/// so growing the table rehashes no string from the arena.
#[derive(Clone, Copy)]
struct Slot {
    /// [`EMPTY`] in an empty slot.
    sym: u32,
    /// The length when at most [`SLOT_INLINE`] bytes (the bytes are in
    /// `inline`), else `u8::MAX` (the string's hash is in `inline`).
    short: u8,
    inline: [u8; SLOT_INLINE],
}

/// The sym of no string: an empty slot's.
const EMPTY: u32 = u32::MAX;

const SLOT_INLINE: usize = 19;

impl Slot {
    const EMPTY: Slot = Slot { sym: EMPTY, short: 0, inline: [0; SLOT_INLINE] };

    fn new(sym: u32, s: &str, hash: u64) -> Slot {
        let mut inline = [0; SLOT_INLINE];
        match inline.get_mut(..s.len()) {
            Some(room) => {
                room.copy_from_slice(s.as_bytes());
                Slot { sym, short: s.len() as u8, inline }
            }
            None => {
                inline[..8].copy_from_slice(&hash.to_le_bytes());
                Slot { sym, short: u8::MAX, inline }
            }
        }
    }

    /// A long string's hash, as [`Slot::new`] kept it.
    fn kept_hash(&self) -> u64 {
        u64::from_le_bytes(self.inline[..8].try_into().expect("8 bytes"))
    }

    /// Its string's hash: kept for a long one, computed for a short one.
    fn hash(&self, hasher: &foldhash::fast::RandomState) -> u64 {
        match self.short {
            u8::MAX => self.kept_hash(),
            short => hasher
                .hash_one(std::str::from_utf8(&self.inline[..usize::from(short)]).expect("a whole string's bytes")),
        }
    }

    /// Whether this slot holds `s` (whose hash is `hash`), reading the
    /// arena only for a long one with the same hash.
    fn holds(&self, s: &str, hash: u64, text: &str, ends: &[u64]) -> bool {
        match self.short {
            u8::MAX => s.len() > SLOT_INLINE && self.kept_hash() == hash && span(text, ends, self.sym) == s,
            short => usize::from(short) == s.len() && self.inline[..s.len()] == *s.as_bytes(),
        }
    }
}

impl Strings {
    /// The sym of `s`, interning it if it is new.
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = self.hasher.hash_one(s);
        let (text, ends) = (&self.text, &self.ends);
        let at = match self.table.probe(hash, |slot| slot.holds(s, hash, text, ends)) {
            Ok(sym) => return Sym(sym),
            Err(at) => at,
        };
        let n = u32::try_from(self.ends.len())
            .ok()
            .filter(|n| *n != EMPTY)
            .expect("fewer than 2^32 - 1 distinct strings in the views");
        self.text.push_str(s);
        self.ends.push(self.text.len() as u64);
        let hasher = &self.hasher;
        self.table.insert(at, Slot::new(n, s, hash), |slot| slot.hash(hasher));
        Sym(n)
    }

    /// The sym of `s` if it was ever interned (a query's filter: a string
    /// never interned matches no fact).
    pub fn find(&self, s: &str) -> Option<Sym> {
        let hash = self.hasher.hash_one(s);
        self.table.probe(hash, |slot| slot.holds(s, hash, &self.text, &self.ends)).ok().map(Sym)
    }

    /// Asks the memory for the slot `s` would be found in, without waiting
    /// for it: the fold calls this for the events it will fold a few
    /// events later, so that their cache misses overlap (see [`Table`]).
    pub fn prefetch(&self, s: &str) {
        self.table.prefetch(self.hasher.hash_one(s));
    }

    /// A filter by text (a party a query is asked about) as a filter by
    /// sym: no filter stays `Some(None)`; a text never interned, which no
    /// fact names, is `None` (the query has no rows).
    pub fn filter(&self, text: Option<&str>) -> Option<Option<Sym>> {
        match text {
            Some(text) => self.find(text).map(Some),
            None => Some(None),
        }
    }

    /// The text of `sym`.
    pub fn get(&self, sym: Sym) -> &str {
        span(&self.text, &self.ends, sym.0)
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

fn span<'a>(text: &'a str, ends: &[u64], n: u32) -> &'a str {
    let n = n as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] as usize };
    &text[start..ends[n] as usize]
}

/// Two arenas are equal when they hold the same strings under the same syms.
impl PartialEq for Strings {
    fn eq(&self, other: &Strings) -> bool {
        self.ends == other.ends && self.text == other.text
    }
}

impl Eq for Strings {}

impl std::fmt::Debug for Strings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strings").field("len", &self.len()).field("bytes", &self.text.len()).finish()
    }
}

/// Serialized as the strings in order: the table is rebuilt on load (and
/// the strings checked for duplicates, which would make two syms of one
/// text and break every comparison by sym).
impl Serialize for Strings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for n in 0..self.ends.len() as u32 {
            seq.serialize_element(span(&self.text, &self.ends, n))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Strings, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Strings;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of distinct strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut strings = Strings::default();
                while let Some(s) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    let before = strings.len();
                    strings.intern(&s);
                    if strings.len() == before {
                        return Err(serde::de::Error::custom(format!("the string {s:?} appears twice")));
                    }
                }
                Ok(strings)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// Pushes `item` without `Vec`'s minimum capacity of four: most entities
/// have one or two facts of a kind, and four slots of a 60-byte fact for
/// one of them was most of the views' memory. Grows by half, so a long
/// history of one entity still appends in amortized constant time.
pub(crate) fn push<T>(facts: &mut Vec<T>, item: T) {
    if facts.len() == facts.capacity() {
        facts.reserve_exact(facts.len() / 2 + 1);
    }
    facts.push(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_one_sym_per_text_and_reads_it_back() {
        let mut strings = Strings::default();
        let a = strings.intern("vn/hanoi");
        let b = strings.intern("la/vientiane");
        let empty = strings.intern("");
        assert_eq!(strings.intern("vn/hanoi"), a);
        assert_ne!(a, b);
        assert_eq!((strings.get(a), strings.get(b), strings.get(empty)), ("vn/hanoi", "la/vientiane", ""));
        assert_eq!(strings.find("la/vientiane"), Some(b));
        assert_eq!(strings.find("th/bangkok"), None);
        assert_eq!(strings.filter(Some("vn/hanoi")), Some(Some(a)));
        assert_eq!(strings.filter(None), Some(None));
        assert_eq!(strings.filter(Some("th/bangkok")), None);
        assert_eq!(strings.len(), 3);
    }

    #[test]
    fn strings_inline_in_the_table_and_in_the_arena_are_told_apart() {
        let mut strings = Strings::default();
        let texts = [
            String::new(),
            "a".into(),
            "2022-04-04".into(),
            "x".repeat(SLOT_INLINE - 1),
            "x".repeat(SLOT_INLINE),
            "x".repeat(SLOT_INLINE + 1),
        ];
        let syms: Vec<Sym> = texts.iter().map(|t| strings.intern(t)).collect();
        for (text, sym) in texts.iter().zip(&syms) {
            assert_eq!(strings.intern(text), *sym, "{text:?} is found again");
            assert_eq!(strings.get(*sym), text);
        }
        assert_eq!(strings.len(), texts.len(), "each length its own string");
        assert_eq!(strings.find(&"x".repeat(SLOT_INLINE + 2)), None);
        assert_eq!(strings.find("2022-04-05"), None, "same length, other bytes");
    }

    #[test]
    fn strings_are_found_after_the_table_grows_many_times() {
        let mut strings = Strings::default();
        let text = |i: usize| {
            if i.is_multiple_of(3) {
                format!("d{i}")
            } else {
                format!("a title long enough for the arena, {i}")
            }
        };
        let syms: Vec<Sym> = (0..20_000).map(|i| strings.intern(&text(i))).collect();
        for (i, sym) in syms.iter().enumerate() {
            assert_eq!(strings.find(&text(i)), Some(*sym), "{} is found again", text(i));
            assert_eq!(strings.get(*sym), text(i));
        }
        assert_eq!(strings.len(), 20_000);
        assert_eq!(strings.find("a title long enough for the arena, 20000"), None);
        let copy = strings.clone();
        assert_eq!(copy.find(&text(19_999)), Some(syms[19_999]), "a clone hashes as the original did");
    }

    #[test]
    fn the_table_doubles_and_stays_at_most_seven_eighths_full() {
        let mut strings = Strings::default();
        assert_eq!(strings.table.slots.len(), SLOTS_MIN, "the smallest table before the first string");
        strings.prefetch("vn/hanoi");
        assert_eq!(strings.find("vn/hanoi"), None);
        for i in 0..2_000 {
            let sym = strings.intern(&format!("vn/p{i}"));
            let table = &strings.table;
            assert!(table.slots.len().is_power_of_two() && table.slots.len() >= SLOTS_MIN);
            assert!(
                table.len * LOAD_DENOMINATOR <= table.slots.len() * LOAD_NUMERATOR,
                "{} of {} slots used",
                table.len,
                table.slots.len()
            );
            let used: Vec<u32> = table.slots.iter().map(|slot| slot.sym).filter(|sym| *sym != EMPTY).collect();
            assert_eq!(used.len(), i + 1, "each string in one slot");
            assert_eq!(used.iter().copied().max(), Some(sym.0));
            strings.prefetch(&format!("vn/p{}", i + 1));
        }
        for i in 0..2_000 {
            assert_eq!(strings.get(strings.find(&format!("vn/p{i}")).unwrap()), format!("vn/p{i}"));
        }
    }

    #[test]
    fn a_serde_round_trip_keeps_every_sym_and_rejects_duplicates() {
        let mut strings = Strings::default();
        let syms: Vec<Sym> = ["Hà Nội", "ນະຄອນຫຼວງວຽງຈັນ", "", "2022/2025"].iter().map(|s| strings.intern(s)).collect();
        let back: Strings = serde_json::from_str(&serde_json::to_string(&strings).unwrap()).unwrap();
        assert_eq!(back, strings);
        for sym in syms {
            assert_eq!(back.get(sym), strings.get(sym));
        }
        assert_eq!(back.find("2022/2025"), strings.find("2022/2025"));
        let twice = serde_json::from_str::<Strings>(r#"["a","b","a"]"#).unwrap_err();
        assert!(twice.to_string().contains("appears twice"), "{twice}");
    }

    #[test]
    fn push_grows_by_half_from_one() {
        let mut facts = Vec::new();
        let mut capacities = Vec::new();
        for n in 0..8 {
            push(&mut facts, n);
            capacities.push(facts.capacity());
        }
        assert_eq!(facts, (0..8).collect::<Vec<_>>());
        assert_eq!(capacities, [1, 2, 4, 4, 7, 7, 7, 11]);
    }
}
