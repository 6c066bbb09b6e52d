//! The `amity` crate's one error type. Each variant says what the user sees:
//! the CLI's exit code and (for the service) the HTTP status.

use events::{ChainError, Rejection};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A submission broke a rule; nothing was appended. Exit 2, HTTP 400.
    #[error("rejected: {0}")]
    Invalid(#[from] Rejection),
    /// Bad input to a command (an unknown id, a malformed argument, an
    /// unreadable file). Exit 2, HTTP 400.
    #[error("{0}")]
    Usage(String),
    /// The id exists with other content, or an `expect` did not hold; nothing
    /// was appended. Exit 3, HTTP 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored chain is broken (tampered, truncated, reordered), or the
    /// anchor disagrees with the log. Exit 1, HTTP 500 from `/verify` as a
    /// result body rather than an error.
    #[error("verification failed: {0}")]
    Chain(#[from] ChainError),
    /// The disk or sled failed, or the ledger is in use by another process.
    /// Exit 4, HTTP 500.
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// The CLI's exit code for this error, as documented in `--help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Chain(_) => 1,
            Error::Invalid(_) | Error::Usage(_) => 2,
            Error::Conflict(_) => 3,
            Error::Storage(_) => 4,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Storage(error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
