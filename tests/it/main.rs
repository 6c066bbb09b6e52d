//! amity's integration tests, linked once as one binary.

mod cli;
mod common;
mod history;
mod store;
mod views;
