//! The `amity` crate's one error type. Each variant says what the user sees:
//! the CLI's exit code and (for the service) the HTTP status. Failures from
//! outside keep their kind and their source: a full disk, a busy port and an
//! unreachable server are three different errors, not one string.

use events::{ChainError, Rejection};

/// Any error a failure came from, kept for its message and its kind.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// sled or the disk under it failed while reading or writing the ledger.
    /// Exit 4, HTTP 500.
    #[error("storage error: {context}: {source}")]
    Storage { context: String, source: Source },
    /// The ledger cannot take this request now: it is held by another
    /// process, closed, or stopped after a storage error. Exit 4, HTTP 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Appending would leave less free space than the reserve
    /// ([`crate::store::RESERVE_BYTES_DEFAULT`]) that keeps the ledger able
    /// to open, checkpoint and be read; nothing was appended, and appends
    /// resume once space is freed. Exit 4, HTTP 507.
    #[error("refused: {0}")]
    NoSpace(String),
    /// A local file or socket (not the ledger's own storage) failed: an
    /// address already in use, an unwritable output. Exit 4, HTTP 500.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A peer over the network failed or could not be reached: the ledger's
    /// server for `--url` commands, NATS for the relay. Exit 5, HTTP 502.
    #[error("network error: {context}: {source}")]
    Network { context: String, source: Source },
    /// The ledger is held by another process (named in the message, with
    /// the URL it serves the ledger at, if any). Exit 4, HTTP 503.
    #[error("{message}")]
    InUse { message: String, url: Option<String> },
    /// The user interrupted the command (Ctrl-C); the message says what was
    /// kept and how to go on. Exit 130, as a shell reports SIGINT.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// The CLI's exit code for this error, as documented in `--help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Chain(_) => 1,
            Error::Invalid(_) | Error::Usage(_) => 2,
            Error::Conflict(_) => 3,
            Error::Storage { .. }
            | Error::Unavailable(_)
            | Error::InUse { .. }
            | Error::NoSpace(_)
            | Error::Io { .. } => 4,
            Error::Network { .. } => 5,
            Error::Interrupted(_) => 130,
        }
    }

    pub fn storage(context: impl Into<String>, source: impl Into<Source>) -> Error {
        Error::Storage { context: context.into(), source: source.into() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    pub fn network(context: impl Into<String>, source: impl Into<Source>) -> Error {
        Error::Network { context: context.into(), source: source.into() }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::io("I/O", error)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
