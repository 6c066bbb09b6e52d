//! `amity relay` (the ledger into NATS JetStream) and `amity follow-nats`
//! (a remote service that needs nothing but the stream: it verifies the hash
//! chain and rebuilds the four views from JetStream alone), and `amity
//! restore --nats` (a new ledger from that stream).

use super::format::Format;
use super::read::print;
use super::views::{Shown, ViewKind};
use crate::error::{Error, Result};
use crate::relay::{self, RelayConfig, Source, HASH_HEADER, SEQ_HEADER};
use async_nats::jetstream::{self, consumer::DeliverPolicy};
use chrono::NaiveDate;
use events::ChainVerifier;
use futures::StreamExt;
use projections::Views;
use std::path::{Path, PathBuf};

/// Where `amity relay` reads the ledger: a running server, or the local
/// ledger directory when no server owns it.
pub struct RelayArgs {
    pub config: RelayConfig,
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
}

pub fn relay(dir: &Path, args: RelayArgs) -> Result<()> {
    let runtime = super::serve::runtime()?;
    let (ledger, source) = match &args.url {
        Some(url) => (None, Source::remote(url, super::serve::token(args.token_file.as_deref())?)),
        None => {
            let ledger = super::open_existing(dir)?;
            (Some(ledger.clone()), Source::Local(ledger))
        }
    };
    let outcome = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            super::serve::wait_for_signal().await;
            let _ = stop.send(true);
        });
        crate::say!(
            "amity relay: to stream {} at {} ({}.<type>)",
            args.config.stream,
            args.config.nats,
            args.config.subject_prefix
        );
        relay::run(source, args.config, stopped).await
    });
    if let Some(ledger) = ledger {
        ledger.close()?;
    }
    outcome
}

/// What `amity follow-nats` prints.
pub struct FollowArgs {
    pub nats: String,
    pub stream: String,
    pub view: Option<ViewKind>,
    pub as_of: NaiveDate,
    pub at_seq: Option<u64>,
    pub party: Option<String>,
    pub format: Format,
}

fn chain(seq: u64, problem: String) -> Error {
    Error::Chain(events::ChainError { seq, problem })
}

pub fn follow_nats(args: FollowArgs) -> Result<()> {
    let runtime = super::serve::runtime()?;
    let (sink, mut payloads) = tokio::sync::mpsc::channel(PAYLOADS_IN_FLIGHT_MAX);
    runtime.spawn(read_verified(args.nats.clone(), args.stream.clone(), "follow-nats", sink));
    let mut views = Views::default();
    let mut seq = 0;
    while let Some(payload) = payloads.blocking_recv() {
        seq += 1;
        views.apply_stored(&payload?).map_err(|problem| chain(seq, problem.to_string()))?;
    }
    let kinds = match args.view {
        Some(kind) => vec![kind],
        None => vec![ViewKind::Agreements, ViewKind::Projects, ViewKind::Aid, ViewKind::Visits],
    };
    for kind in kinds {
        print(&Shown::of(&views, kind, (args.as_of, args.at_seq), args.party.as_deref()).formatted(args.format)?)?;
    }
    Ok(())
}

/// `amity restore --nats URL --stream NAME`: a new ledger at `dir` from the
/// records the relay put in a JetStream stream, each checked as
/// `follow-nats` checks it, then byte for byte as `amity restore` does.
pub fn restore_nats(dir: &Path, nats: &str, stream: &str) -> Result<()> {
    let runtime = super::serve::runtime()?;
    let (sink, mut payloads) = tokio::sync::mpsc::channel(PAYLOADS_IN_FLIGHT_MAX);
    runtime.spawn(read_verified(nats.to_string(), stream.to_string(), "restore", sink));
    let verified = crate::store::Ledger::restore(dir, std::iter::from_fn(|| payloads.blocking_recv()))?;
    print(&format!(
        "restored into {} from stream {stream} at {nats}: ok {} records, head {}",
        dir.display(),
        verified.count,
        verified.head
    ))
}

/// Messages read ahead of their consumer.
const PAYLOADS_IN_FLIGHT_MAX: usize = 1024;

/// Sends each record of the stream, verified, to `sink` in order; a failure
/// is sent as the last item.
async fn read_verified(
    nats: String,
    name: String,
    command: &'static str,
    sink: tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) {
    if let Err(error) = read_stream(&nats, &name, command, &sink).await {
        let _ = sink.send(Err(error)).await;
    }
}

/// Reads the stream from its first message to the last one it held when we
/// started, checking each message against the chain and its headers.
async fn read_stream(
    nats: &str,
    name: &str,
    command: &str,
    sink: &tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let config = RelayConfig::new(nats, name, "");
    let context = relay::context(&config).await?;
    let mut stream =
        context.get_stream(name).await.map_err(|e| Error::Usage(format!("stream {name} at {nats}: {e}")))?;
    let end =
        stream.info().await.map_err(|e| Error::network("NATS: reading the stream's state", e))?.state.last_sequence;
    let mut verifier = ChainVerifier::default();
    if end == 0 {
        crate::say!("amity {command}: stream {name} is empty");
        return Ok(());
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::network(format!("NATS: creating a consumer on {name}"), e))?;
    let mut messages = consumer.messages().await.map_err(|e| Error::network("NATS: reading messages", e))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| Error::network(format!("NATS: reading {name}"), e))?;
        let position =
            message.info().map_err(|e| Error::network("NATS: a message's info", e.to_string()))?.stream_sequence;
        let seq = verifier.count() + 1;
        if position != seq {
            return Err(chain(seq, format!("the stream goes on at sequence {position}: a record is missing")));
        }
        let header = |key: &str| message.headers.as_ref().and_then(|h| h.get(key)).map(|v| v.as_str().to_string());
        if header(SEQ_HEADER) != Some(seq.to_string()) {
            return Err(chain(seq, format!("header {SEQ_HEADER} is {:?}", header(SEQ_HEADER))));
        }
        let record = verifier.check(&seq.to_be_bytes(), &message.payload)?;
        if header(HASH_HEADER).as_deref() != Some(record.hash.as_str()) {
            return Err(chain(
                seq,
                format!("header {HASH_HEADER} is {:?}, the record's hash {}", header(HASH_HEADER), record.hash),
            ));
        }
        if header("Nats-Msg-Id").as_deref() != Some(record.id.as_str()) {
            return Err(chain(
                seq,
                format!("Nats-Msg-Id is {:?}, the record's id {}", header("Nats-Msg-Id"), record.id),
            ));
        }
        if !message.subject.ends_with(&format!(".{}", record.event_type)) {
            return Err(chain(
                seq,
                format!("subject {} does not end in its type {}", message.subject, record.event_type),
            ));
        }
        if sink.send(Ok(message.payload.to_vec())).await.is_err() {
            // The consumer stopped (its own error ends the command).
            return Ok(());
        }
        if seq == end {
            break;
        }
    }
    if verifier.count() != end {
        return Err(chain(verifier.count() + 1, format!("the stream ended before sequence {end}")));
    }
    crate::say!("amity {command}: verified {end} records from stream {name}; head {}", verifier.head_hash());
    Ok(())
}
