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
