//! amity's integration tests, linked once as one binary.

mod cli;
mod common;
mod store;
mod views;
