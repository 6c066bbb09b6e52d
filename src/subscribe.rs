//! Subscriptions: a stream of stored records after a position, first caught
//! up from the log, then following the durable head, with no gap, no
//! duplicate and no reordering at the hand-over (both phases are the same
//! loop: take the next seqs up to the durable head, then wait for it to
//! move). Recent records come from the ledger's in-memory tail, shared by
//! every subscriber, with their seq, id, type and hash already known; only a
//! subscriber further behind than the tail reads the log. A slow subscriber
//! only reads further behind; it never holds up writers and never buffers
//! more than one chunk. Must never: yield a record that is not yet durable,
//! or use sled's `watch_prefix` (it blocks writers).

use crate::error::{Error, Result};
use crate::store::{Committed, Ledger};
use events::{ChainError, EventData, EventType, RecordRef};
use futures::Stream;
use std::sync::Arc;

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
    /// Only records that name this stream (`project:justice-hq`, an entity
    /// as `kind:id`); retractions always pass, as for `party`.
    pub stream: Option<String>,
}

impl Filter {
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if self.type_prefix.is_none() && self.party.is_none() && self.stream.is_none() {
            return true;
        }
        self.accepts(&stored_type(bytes), bytes)
    }

    /// [`Filter::matches`], for a stored record whose type is already read.
    fn accepts(&self, event_type: &str, bytes: &[u8]) -> bool {
        if self.type_prefix.as_deref().is_some_and(|p| !event_type.starts_with(p)) {
            return false;
        }
        if self.party.is_none() && self.stream.is_none() {
            return true;
        }
        let Ok(record) = RecordRef::decode(bytes) else { return false };
        let Ok(event_type) = event_type.parse::<EventType>() else { return false };
        if event_type == EventType::EventRetracted {
            return true;
        }
        let Ok(data) = EventData::decode_json(event_type, record.data.get()) else { return false };
        let named = events::known::streams(&data);
        let party_named = self.party.as_ref().is_none_or(|party| named.contains(&format!("party:{party}")));
        party_named && self.stream.as_ref().is_none_or(|stream| named.contains(stream))
    }
}

/// One record as delivered: its seq, id, type and hash, its stored bytes
/// and its SSE frame, shared with the tail and every other subscriber (a
/// recent record is delivered to any number of them without a copy).
pub type Delivered = Arc<Committed>;

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
                let chunk: Vec<Delivered> = match ledger.recent(next, to) {
                    Some(recent) => recent,
                    None => {
                        let reader = ledger.clone();
                        let read = move || -> Result<Vec<Delivered>> {
                            let stored = reader.range_bytes(next, to);
                            stored.map(|entry| entry.and_then(|(seq, bytes)| Committed::from_stored(seq, bytes).map(Arc::new))).collect()
                        };
                        tokio::task::spawn_blocking(read)
                            .await
                            .map_err(|e| Error::Unavailable(format!("the log reader stopped: {e}")))??
                    }
                };
                for delivered in chunk {
                    if delivered.seq != next {
                        Err(ChainError { seq: next, problem: "missing from the log".into() })?;
                    }
                    next += 1;
                    if filter.accepts(delivered.event_type.as_str(), delivered.bytes()) {
                        yield delivered;
                    }
                }
                if next <= to {
                    Err(ChainError { seq: next, problem: "missing from the log".into() })?;
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
        let party = |id: &str| {
            serde_json::json!({"type": "party.registered", "occurred": "2022",
                "data": {"party": id, "name": id, "kind": "city", "country": "VN"}})
        };
        let records = events::generate::seal(&[
            party("vn/hanoi"),
            party("la/vientiane"),
            serde_json::json!({"id": "v", "type": "visit.held", "occurred": "2023",
                "data": {"visit": "v", "delegation_of": "vn/hanoi", "host": "la/vientiane", "led_by": {"name": "A"}}}),
            serde_json::json!({"type": "event.retracted", "occurred": "2024", "data": {"target": "v", "reason": "r"}}),
        ]);
        let (visit, retraction) = (records[2].canonical_bytes(), records[3].canonical_bytes());
        let filter = |type_prefix: Option<&str>, party: Option<&str>| Filter {
            type_prefix: type_prefix.map(str::to_string),
            party: party.map(str::to_string),
            stream: None,
        };
        assert!(filter(None, None).matches(&visit));
        assert!(filter(Some("visit."), None).matches(&visit));
        assert!(!filter(Some("aid."), None).matches(&visit));
        assert!(filter(None, Some("la/vientiane")).matches(&visit));
        assert!(!filter(None, Some("la")).matches(&visit));
        assert!(filter(None, Some("la")).matches(&retraction), "retractions pass a party filter");
        let stream = |name: &str| Filter { stream: Some(name.to_string()), ..Filter::default() };
        assert!(stream("visit:v").matches(&visit));
        assert!(stream("party:vn/hanoi").matches(&visit));
        assert!(!stream("visit:w").matches(&visit));
        assert!(!filter(Some("visit."), None).matches(b"not a record"));
    }
}
