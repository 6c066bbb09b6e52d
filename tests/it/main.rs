//! amity's integration tests, linked once as one binary.

mod browser;
mod cli;
mod common;
mod crash;
mod faults;
mod fiu;
mod history;
mod nats;
mod proofs;
mod server;
mod slow;
mod soak;
mod store;
mod views;
mod web;
