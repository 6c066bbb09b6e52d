//! Every bound on what a writer may send, enforced in one place
//! ([`crate::submission`]). Sizes are in bytes of UTF-8 unless named otherwise.

/// Largest submission, and so (with the ledger's fields) the largest record.
pub const RECORD_BYTES_MAX: usize = 64 * 1024;
/// Longest event id (`[A-Za-z0-9._:-]`), per the spec.
pub const ID_CHARS_MAX: usize = 128;
/// Longest entity id (party, visit, agreement, pledge, project, award).
pub const ENTITY_ID_CHARS_MAX: usize = 128;
/// Longest short text: names, titles, places, units, item names.
pub const NAME_CHARS_MAX: usize = 512;
/// Longest free text: purposes, notes, reasons, quotes.
pub const TEXT_CHARS_MAX: usize = 8 * 1024;
/// Most elements in any list (members, parties, items, sources, fields...).
pub const LIST_LEN_MAX: usize = 256;
/// Most entries in an activity's `figures`.
pub const FIGURES_LEN_MAX: usize = 64;
/// Deepest JSON nesting accepted in a submission (the spec's shapes need 5).
pub const JSON_DEPTH_MAX: usize = 16;
/// Largest integer anywhere in a record: I-JSON's exactly representable
/// range, so every JCS implementation (including JavaScript's) agrees on it.
pub const INTEGER_ABS_MAX: u64 = (1 << 53) - 1;
/// Most significant digits in a money amount (integer and fraction part
/// together); sums are kept in `u128`, so they never overflow.
pub const MONEY_DIGITS_MAX: usize = 24;
