//! The NATS JetStream relay: follows the ledger and publishes every record,
//! byte for byte, to `<prefix>.<type>` in one stream, so services on other
//! hosts can follow a replicated log instead of this one process.
//!
//! Exactly once, in order, rests on one invariant: **stream sequence N holds
//! ledger seq N**. Every publish carries `Nats-Expected-Last-Sequence: N-1`,
//! so JetStream refuses a record that would land anywhere else (after a gap,
//! twice, or behind a foreign message), whatever its duplicate window; and
//! `Nats-Msg-Id` = the record's id makes a resent publish a duplicate inside
//! that window as a second guard. On (re)start the relay resumes after the
//! stream's last sequence, after checking that the record there has the
//! ledger's hash; its named subscription position is advanced only after
//! JetStream acknowledged, and is never trusted over the stream (see
//! [`resume_point`]). Any failure (NATS down, a node lost, the ledger's
//! server restarting) ends one attempt; the next starts from the stream again.
//!
//! Must never: publish a record anywhere but at its own seq, or advance the
//! position past what JetStream acknowledged.

use crate::error::{Error, Result};
use crate::store::Ledger;
use crate::subscribe::{Delivered, Filter};
use async_nats::jetstream::{self, stream::StorageType};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::time::Duration;

/// Header carrying the record's seq (decimal).
pub const SEQ_HEADER: &str = "Amity-Seq";
/// Header carrying the record's hash (64 hex).
pub const HASH_HEADER: &str = "Amity-Hash";
/// Most records published before their acknowledgements are awaited.
pub const PUBLISH_WINDOW: usize = 512;
/// Longest wait for any JetStream answer, acknowledgements included: a
/// publish sent while a stream has no leader (a node just lost, a stream
/// just created) is otherwise never answered.
const NATS_TIMEOUT: Duration = Duration::from_secs(5);
/// First pause after a failure; it doubles while failures repeat.
const RETRY_DELAY_MIN: Duration = Duration::from_millis(100);
/// Longest pause between attempts after a failure.
const RETRY_DELAY_MAX: Duration = Duration::from_secs(2);

/// Where and how to relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// NATS server URLs, comma-separated (any member of a cluster will do).
    pub nats: String,
    pub stream: String,
    pub subject_prefix: String,
    pub replicas: usize,
    /// JetStream's duplicate window for `Nats-Msg-Id`. Correctness does not
    /// depend on it (the expected-last-sequence check does), so the default
    /// of two minutes only bounds how long a resent publish is recognised.
    pub duplicate_window: Duration,
    /// The named subscription whose position the relay advances.
    pub subscription: String,
}

impl RelayConfig {
    pub fn new(nats: &str, stream: &str, subject_prefix: &str) -> RelayConfig {
        RelayConfig {
            nats: nats.to_string(),
            stream: stream.to_string(),
            subject_prefix: subject_prefix.to_string(),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            subscription: format!("relay-{stream}"),
        }
    }

    fn servers(&self) -> Vec<String> {
        self.nats.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    }
}

/// The relay's view of the ledger: in the same process, or a server's HTTP
/// API (`GET /events/stream`, `GET|PUT /subscriptions/{name}`).
#[derive(Clone)]
pub enum Source {
    Local(Ledger),
    Remote { url: String, token: Option<String>, client: reqwest::Client },
}

type Records = Pin<Box<dyn Stream<Item = Result<Delivered>> + Send>>;

fn remote(e: reqwest::Error) -> Error {
    Error::network("the ledger's server", e)
}

impl Source {
    pub fn remote(url: &str, token: Option<String>) -> Source {
        Source::Remote { url: url.trim_end_matches('/').to_string(), token, client: reqwest::Client::new() }
    }

    async fn position(&self, name: &str) -> Result<Option<u64>> {
        match self {
            Source::Local(ledger) => ledger.position(name),
            Source::Remote { url, client, .. } => {
                let response = client.get(format!("{url}/subscriptions/{name}")).send().await.map_err(remote)?;
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                let body: serde_json::Value =
                    response.error_for_status().map_err(remote)?.json().await.map_err(remote)?;
                Ok(body["seq"].as_u64())
            }
        }
    }

    async fn ack(&self, name: &str, seq: u64) -> Result<()> {
        match self {
            Source::Local(ledger) => {
                let (ledger, name) = (ledger.clone(), name.to_string());
                tokio::task::spawn_blocking(move || ledger.ack(&name, seq))
                    .await
                    .map_err(|e| Error::Unavailable(format!("storing the position: {e}")))?
            }
            Source::Remote { url, client, token } => {
                let mut request =
                    client.put(format!("{url}/subscriptions/{name}")).json(&serde_json::json!({"seq": seq}));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.map_err(remote)?;
                if response.status() == reqwest::StatusCode::UNAUTHORIZED
                    || response.status() == reqwest::StatusCode::FORBIDDEN
                {
                    let text = response.text().await.unwrap_or_default();
                    return Err(Error::Usage(format!("the server refused the relay's position update: {text}")));
                }
                response.error_for_status().map_err(remote)?;
                Ok(())
            }
        }
    }

    /// The stored record at `seq`'s hash, if the ledger has that seq.
    async fn hash_at(&self, seq: u64) -> Result<Option<String>> {
        let record: Option<serde_json::Value> = match self {
            Source::Local(ledger) => {
                ledger.range_bytes(seq, seq).next().transpose()?.and_then(|(_, b)| serde_json::from_slice(&b).ok())
            }
            Source::Remote { url, client, .. } => {
                let query = [("after", (seq - 1).to_string()), ("limit", "1".to_string())];
                let page = events_page(client, url, &query).await?;
                page["records"].get(0).cloned().filter(|r| r["seq"].as_u64() == Some(seq))
            }
        };
        Ok(record.and_then(|r| r["hash"].as_str().map(String::from)))
    }

    /// Every record after `after`, then each new one as it is committed.
    fn records(&self, after: u64) -> Records {
        match self {
            Source::Local(ledger) => Box::pin(ledger.subscribe(after, Filter::default())),
            Source::Remote { url, client, .. } => server_events(client.clone(), url.clone(), after, Vec::new()),
        }
    }
}

/// One page of `GET /events` from an `amity serve` at `url`:
/// `{"records": […], "next_after": N}`.
pub async fn events_page(client: &reqwest::Client, url: &str, query: &[(&str, String)]) -> Result<serde_json::Value> {
    let response = client.get(format!("{url}/events")).query(query).send().await.map_err(remote)?;
    response.error_for_status().map_err(remote)?.json().await.map_err(remote)
}

/// The records of an `amity serve` event stream (SSE) after `after`, with
/// its `query` filters; ends when the server ends the stream. Each event's
/// data is the stored record, read once here for its id and hash.
pub fn server_events(client: reqwest::Client, url: String, after: u64, query: Vec<(&'static str, String)>) -> Records {
    Box::pin(async_stream::try_stream! {
        use eventsource_stream::Eventsource;
        let response = client
            .get(format!("{url}/events/stream"))
            .query(&query)
            .header("Last-Event-ID", after.to_string())
            .send()
            .await
            .map_err(remote)?
            .error_for_status()
            .map_err(remote)?;
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| Error::network("the ledger's event stream", e.to_string()))?;
            if let Ok(seq) = event.id.parse::<u64>() {
                yield std::sync::Arc::new(crate::store::Committed::from_stored(seq, event.data.into_bytes())?);
            }
        }
    })
}

/// Connects to NATS (retrying in the background if it is down).
pub async fn connect(config: &RelayConfig) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name("amity")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(config.servers().as_slice())
        .await
        .map_err(|e| Error::network(format!("NATS {}", config.nats), e))
}

/// A JetStream context whose every request and acknowledgement times out.
pub async fn context(config: &RelayConfig) -> Result<jetstream::Context> {
    let client = connect(config).await?;
    Ok(jetstream::ContextBuilder::new().timeout(NATS_TIMEOUT).build(client))
}

fn nats(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::network(format!("NATS: {what}"), e)
}

/// Opens the stream, creating it if missing: file storage, `replicas`
/// copies, subjects `<prefix>.>`.
pub async fn stream(context: &jetstream::Context, config: &RelayConfig) -> Result<jetstream::stream::Stream> {
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("opening stream {}", config.stream), e))
}

/// Where the relay starts: after the stream's last sequence. The issue asks
/// for "the larger of the stored position and the stream's last"; that
/// would skip records a stream lost after acknowledging them (restored from
/// an older snapshot), which the same sentence wants filled again, so the
/// stream, the destination itself, decides. The position only reports.
pub fn resume_point(position: Option<u64>, stream_last: u64) -> u64 {
    if let Some(position) = position.filter(|p| *p > stream_last) {
        tracing::warn!(position, stream_last, "the stream ends before the relay's position: publishing its tail again");
    }
    stream_last
}

/// Relays until `stop` turns true, or a failure that retrying cannot mend
/// (the stream holds records of another ledger). Failures of NATS or of the
/// ledger's server are logged and retried.
pub async fn run(source: Source, config: RelayConfig, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<()> {
    let mut delay = RETRY_DELAY_MIN;
    loop {
        let started = std::time::Instant::now();
        let attempt = tokio::select! {
            attempt = relay_once(&source, &config) => attempt,
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        };
        let error = attempt.err().unwrap_or_else(|| Error::Unavailable("the ledger's record stream ended".into()));
        if let Error::Chain(_) | Error::Usage(_) = error {
            return Err(error);
        }
        tracing::warn!(error = %error, "relay interrupted; starting again from the stream's last sequence");
        crate::say!("amity relay: {error}; retrying");
        // An attempt that ran a while was a fresh failure, not a repeat.
        if started.elapsed() > RETRY_DELAY_MAX * 4 {
            delay = RETRY_DELAY_MIN;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        }
        delay = (delay * 2).min(RETRY_DELAY_MAX);
    }
}

/// One attempt: open the stream, find where to resume, publish until
/// something fails or the ledger's record stream ends (a server shutting
/// down); either way the caller starts again.
async fn relay_once(source: &Source, config: &RelayConfig) -> Result<()> {
    let context = context(config).await?;
    let mut stream = stream(&context, config).await?;
    let last = stream.info().await.map_err(|e| nats("reading the stream's state", e))?.state.last_sequence;
    if last > 0 {
        check_stream_end(source, &stream, last).await?;
    }
    let position = source.position(&config.subscription).await?;
    let resume = resume_point(position, last);
    if position != Some(resume) {
        source.ack(&config.subscription, resume).await?;
    }
    tracing::info!(stream = %config.stream, resume, "relaying");
    let mut records = source.records(resume).ready_chunks(PUBLISH_WINDOW);
    let mut expected = resume + 1;
    while let Some(chunk) = records.next().await {
        let mut acks = Vec::with_capacity(chunk.len());
        for record in chunk {
            let record = record?;
            let seq = record.seq;
            if seq != expected {
                // A stream that skipped or repeated: start again from the
                // stream's last sequence (retried, not fatal).
                return Err(Error::Unavailable(format!("the ledger sent seq {seq} where seq {expected} was next")));
            }
            expected += 1;
            let subject = format!("{}.{}", config.subject_prefix, record.event_type.as_str());
            let ack = context.send_publish(subject, publication(record)).await.map_err(|e| nats("publishing", e))?;
            acks.push((seq, ack));
        }
        let mut acknowledged = None;
        for (seq, ack) in acks {
            let ack = ack.await.map_err(|e| nats(&format!("publishing seq {seq}"), e))?;
            if ack.sequence != seq {
                return Err(Error::Chain(events::ChainError {
                    seq,
                    problem: format!(
                        "stream {} stored it at sequence {}: the stream holds messages that are not this ledger's",
                        config.stream, ack.sequence
                    ),
                }));
            }
            acknowledged = Some(seq);
        }
        if let Some(seq) = acknowledged {
            source.ack(&config.subscription, seq).await?;
        }
    }
    Ok(())
}

/// The message for one record: its stored bytes unmodified, with the
/// headers that let JetStream (and a consumer) check it; nothing is parsed.
fn publication(record: Delivered) -> jetstream::message::PublishMessage {
    // The message shares the record's buffer: nothing is copied.
    let bytes = record.bytes().clone();
    jetstream::message::PublishMessage::build()
        .payload(bytes)
        .message_id(record.id())
        .expected_last_sequence(record.seq - 1)
        .header(SEQ_HEADER, record.seq.to_string().as_str())
        .header(HASH_HEADER, record.hash())
}

/// The message at the stream's last sequence must be this ledger's record
/// at that seq: same seq header, same hash.
async fn check_stream_end(source: &Source, stream: &jetstream::stream::Stream, last: u64) -> Result<()> {
    let foreign = |problem: String| Error::Chain(events::ChainError { seq: last, problem });
    let message = match stream.get_raw_message(last).await {
        Ok(message) => message,
        // Purged or removed by a retention limit: the sequence still counts.
        Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => return Ok(()),
        Err(e) => return Err(nats("reading the stream's last message", e)),
    };
    let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
    if header(SEQ_HEADER) != Some(last.to_string()) {
        return Err(foreign(format!(
            "the stream's message {last} says {SEQ_HEADER} {:?}: the stream is not this ledger's relay",
            header(SEQ_HEADER)
        )));
    }
    match source.hash_at(last).await? {
        Some(hash) if Some(&hash) == header(HASH_HEADER).as_ref() => Ok(()),
        Some(hash) => Err(foreign(format!(
            "the stream holds hash {:?} at this seq but the ledger has {hash}: the stream is another ledger's",
            header(HASH_HEADER)
        ))),
        None => Err(foreign(format!(
            "the stream goes on to seq {last}, beyond this ledger's head: the stream is another (or a newer) ledger's"
        ))),
    }
}
