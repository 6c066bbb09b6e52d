//! The errors a writer sees. One [`FieldError`] per broken rule, each naming
//! the field by its path (`data.amount.amount`) and the rule it broke.

use std::fmt;

/// One broken rule: where, and what the rule is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Dotted path into the submission, with list indexes: `data.items[0].quantity`.
    pub field: String,
    /// The rule, in words a writer can act on.
    pub rule: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        FieldError { field: field.into(), rule: rule.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// A submission the ledger will not append. The CLI exits 2 and the HTTP API
/// answers 400 with every error listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.errors))]
pub struct Rejection {
    /// Never empty.
    pub errors: Vec<FieldError>,
}

impl Rejection {
    pub fn one(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Rejection { errors: vec![FieldError::new(field, rule)] }
    }
}

fn display_all(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Collects errors while a validator walks a submission.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    errors: Vec<FieldError>,
}

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.errors.push(FieldError::new(field, rule));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The rejection; only called once an error was pushed.
    pub(crate) fn into_rejection(self) -> Rejection {
        assert!(!self.errors.is_empty(), "a rejection lists at least one broken rule");
        Rejection { errors: self.errors }
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Rejection> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(Rejection { errors: self.errors })
        }
    }
}

/// Joins a serde path onto `prefix` in the form errors use
/// (`data.items[0].quantity`). Segments serde could not name are dropped.
pub(crate) fn join_path(prefix: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = prefix.to_string();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    if out.is_empty() {
        "submission".to_string()
    } else {
        out
    }
}
