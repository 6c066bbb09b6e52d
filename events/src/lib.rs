//! The ledger's vocabulary: event types, dates, money, validation, canonical
//! encoding and the hash chain. Pure: nothing here touches sled, tokio, the
//! clock, the network or files, so nothing here can fail for reasons outside
//! its inputs.
//!
//! Module map:
//! - [`limits`]: every bound a submission must respect, as named constants.
//! - [`error`]: [`FieldError`] and [`Rejection`], the errors a writer sees.
//! - [`date`]: the EDTF level-0 subset used for `occurred` and every date.
//! - [`money`]: exact decimal amounts in ISO 4217 minor units.
//! - [`data`]: one typed payload per event type (`data` of a record).
//! - [`submission`]: what a writer sends, decoded and checked without state
//!   ([`Checked`]), then against what the ledger knows ([`Validated`]).
//! - [`known`]: the trait through which validation asks the ledger what
//!   exists, and the effects a record has on that knowledge.
//! - [`jcs`]: strict JSON text to canonical bytes in one walk (the fast
//!   path of [`Checked::parse`]).
//! - [`record`]: the stored record, its RFC 8785 (JCS) bytes and SHA-256 hash.
//! - [`chain`]: the auditor's check of a sequence of stored records.
//! - [`arena`]: shared buffers for the write path's small byte strings.
//! - [`append`]: the write side: [`append::decide`] (may this be appended?)
//!   and [`append::Sealer`] (the next record of the chain).
//! - [`knowledge`]: what the ledger knows, folded from the log in memory.
//! - [`generate`]: seeded random valid histories for tests and benchmarks.

pub mod append;
pub mod arena;
pub mod chain;
pub mod data;
pub mod date;
pub mod error;
pub mod generate;
pub mod huge;
pub mod jcs;
pub mod knowledge;
pub mod known;
pub mod limits;
pub mod merkle;
pub mod money;
pub mod record;
pub mod submission;

pub use append::{decide, Decision, Sealed, Sealer};
pub use chain::{check_alone, check_stored, ChainError, ChainVerifier, Link};
pub use data::{EventData, EventType};
pub use date::Edtf;
pub use error::{FieldError, Rejection};
pub use knowledge::Knowledge;
pub use known::{EntityKey, EntityKind, Known, KnownEvent};
pub use money::{Currency, Money};
pub use record::{ContentDigest, Record, RecordRef, GENESIS_PREV};
pub use submission::{Checked, Expect, Validated};
