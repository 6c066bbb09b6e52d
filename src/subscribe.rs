//! Subscriptions: a stream of stored records after a position, first caught
//! up from the log, then following the committer's durable head, with no gap,
//! no duplicate and no reordering at the hand-over (both phases are the same
//! loop: read the next seqs up to the durable head, then wait for it to move).
//! A slow subscriber only reads further behind; it never holds up writers and
//! never buffers more than one chunk. Must never: yield a record that is not
//! yet durable, or use sled's `watch_prefix` (it blocks writers).

use crate::error::{Error, Result};
use crate::store::Ledger;
use events::{EventData, EventType, RecordRef};
use futures::Stream;

/// Records read from the log per blocking read.
pub const CATCH_UP_CHUNK_RECORDS: u64 = 512;

/// Which records a subscriber wants. Empty: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only types starting with this (`aid.`, `agreement.signed`).
    pub type_prefix: Option<String>,
    /// Only records whose data names this party. Retractions always pass,
    /// since they may retract a record of that party.
    pub party: Option<String>,
}

impl Filter {
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if self.type_prefix.is_none() && self.party.is_none() {
            return true;
        }
        self.accepts(&stored_type(bytes), bytes)
    }

    /// [`Filter::matches`], for a stored record whose type is already read.
    fn accepts(&self, event_type: &str, bytes: &[u8]) -> bool {
        if self.type_prefix.as_deref().is_some_and(|p| !event_type.starts_with(p)) {
            return false;
        }
        let Some(party) = &self.party else { return true };
        let Ok(record) = RecordRef::decode(bytes) else { return false };
        let Ok(event_type) = event_type.parse::<EventType>() else { return false };
        if event_type == EventType::EventRetracted {
            return true;
        }
        let Ok(data) = EventData::decode_json(event_type, record.data.get()) else { return false };
        let stream = format!("party:{party}");
        events::known::streams(&data, &[]).contains(&stream)
    }
}

/// One record as delivered: its seq, its type, and its stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub seq: u64,
    pub event_type: String,
    pub bytes: Vec<u8>,
}

/// The `type` of a stored record without parsing it: stored bytes are JCS,
/// keys sorted, so `type` is always the last member (`…,"type":"x.y"}`), and
/// type names never need escaping. Falls back to a full decode otherwise.
fn stored_type(bytes: &[u8]) -> String {
    const KEY: &[u8] = b",\"type\":\"";
    let tail = bytes.strip_suffix(b"\"}").and_then(|body| {
        let start = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
        std::str::from_utf8(&body[start..]).ok().filter(|t| !t.contains('"') && !t.contains('\\'))
    });
    match tail {
        Some(event_type) => event_type.to_string(),
        None => RecordRef::decode(bytes).map(|r| r.event_type.into_owned()).unwrap_or_default(),
    }
}

impl Ledger {
    /// Records after `after` that pass `filter`, in seq order, forever (the
    /// stream ends only when the ledger closes, or with a storage error).
    pub fn subscribe(&self, after: u64, filter: Filter) -> impl Stream<Item = Result<Delivered>> + Send + 'static {
        let ledger = self.clone();
        let mut head = self.watch_head();
        async_stream::try_stream! {
            let mut next = after + 1;
            loop {
                let durable = head.borrow_and_update().seq;
                if next > durable {
                    if head.changed().await.is_err() {
                        break;
                    }
                    continue;
                }
                let to = durable.min(next + CATCH_UP_CHUNK_RECORDS - 1);
                let reader = ledger.clone();
                let chunk = tokio::task::spawn_blocking(move || reader.range_bytes(next, to).collect::<Result<Vec<_>>>())
                    .await
                    .map_err(|e| Error::Storage(format!("reading the log: {e}")))??;
                for (seq, bytes) in chunk {
                    if seq != next {
                        Err(Error::Storage(format!("seq {next} is missing from the log")))?;
                    }
                    next += 1;
                    let event_type = stored_type(&bytes);
                    if filter.accepts(&event_type, &bytes) {
                        yield Delivered { seq, event_type, bytes };
                    }
                }
                if next <= to {
                    Err(Error::Storage(format!("seq {next} is missing from the log")))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_type_is_read_from_the_tail_of_canonical_bytes() {
        let record = br#"{"data":{"note":"a \"type\":\"trap\""},"seq":1,"type":"aid.pledged"}"#;
        assert_eq!(super::stored_type(record), "aid.pledged");
        assert_eq!(super::stored_type(b"not json"), "");
    }

    #[test]
    fn filters_by_type_prefix_and_named_party() {
        use super::Filter;
        let stored = |submission: serde_json::Value| events::generate::seal(&[submission])[0].canonical_bytes();
        let visit = stored(serde_json::json!({"type": "visit.held", "occurred": "2023",
            "data": {"visit": "v", "delegation_of": "vn/hanoi", "host": "la/vientiane", "led_by": {"name": "A"}}}));
        let retraction = stored(serde_json::json!({"type": "event.retracted", "occurred": "2024",
            "data": {"target": "x", "reason": "r"}}));
        let filter = |type_prefix: Option<&str>, party: Option<&str>| Filter {
            type_prefix: type_prefix.map(str::to_string),
            party: party.map(str::to_string),
        };
        assert!(filter(None, None).matches(&visit));
        assert!(filter(Some("visit."), None).matches(&visit));
        assert!(!filter(Some("aid."), None).matches(&visit));
        assert!(filter(None, Some("la/vientiane")).matches(&visit));
        assert!(!filter(None, Some("la")).matches(&visit));
        assert!(filter(None, Some("la")).matches(&retraction), "retractions pass a party filter");
        assert!(!filter(Some("visit."), None).matches(b"not a record"));
    }
}
