//! `amity serve` and `amity subscribe`: the HTTP service, and its reference
//! client (which can also read a local ledger directly). Must never: start
//! accepting writes without a token.

use super::read::print;
use super::usage;
use crate::error::{Error, Result};
use crate::relay::RelayConfig;
use crate::server::{run, AppState};
use crate::store::{Ledger, Options};
use crate::subscribe::Filter;
use futures::StreamExt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How often `subscribe --url --follow` reconnects after the stream drops
/// before giving up.
const RECONNECTS_MAX: u32 = 30;
/// Pause between reconnects.
const RECONNECT_DELAY_MS: u64 = 1000;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Error::io("starting the runtime", e))
}

/// The write token: `AMITY_TOKEN`, else the first line of `token_file`.
pub(super) fn token(token_file: Option<&Path>) -> Result<Option<String>> {
    if let Ok(token) = std::env::var("AMITY_TOKEN") {
        if !token.trim().is_empty() {
            return Ok(Some(token.trim().to_string()));
        }
    }
    let Some(path) = token_file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(usage(format!("{} holds no token", path.display())));
    }
    Ok(Some(token))
}

/// Serves until SIGINT/SIGTERM; with `relay`, also relays the ledger into
/// NATS JetStream from inside this process (which owns the ledger).
pub fn serve(
    dir: &Path,
    addr: SocketAddr,
    token_file: Option<PathBuf>,
    relay: Option<RelayConfig>,
    key: Option<PathBuf>,
) -> Result<()> {
    let token = token(token_file.as_deref())?;
    let default_key = dir.join(crate::signing::KEY_FILE);
    let key = match key {
        Some(path) => Some(crate::signing::Key::load(&path)?),
        None if default_key.exists() => Some(crate::signing::Key::load(&default_key)?),
        None => None,
    };
    let ledger = Ledger::open(dir, Options::default())?;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        if token.is_none() {
            tracing::warn!("no token configured (AMITY_TOKEN or --token-file): writes are refused, reads are served");
            crate::say!(
                "amity: no token configured (AMITY_TOKEN or --token-file): writes are refused, reads are served"
            );
        }
        // Local commands on this ledger find the server here and read
        // through it (recorded before the address is printed, so a caller
        // that waits for that line finds it).
        let reachable = if bound.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
        } else {
            bound
        };
        ledger.announce(&format!("http://{reachable}"));
        print(&format!("amity: listening on http://{bound}"))?;
        let _ = std::io::stdout().flush();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: no new connections, ending streams, draining the committer");
            let _ = stop.send(true);
        });
        let relaying = relay.map(|config| {
            crate::say!("amity: relaying to stream {} at {}", config.stream, config.nats);
            let (source, stopped) = (crate::relay::Source::Local(ledger.clone()), shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::relay::run(source, config, stopped).await {
                    tracing::error!(error = %e, "the relay stopped");
                    crate::say!("amity: the relay stopped: {e}");
                }
            })
        });
        let mut state = AppState::new(ledger.clone(), token, shutdown.clone());
        if let Some(key) = key {
            crate::say!("amity: signing checkpoints as {}", key.origin());
            let checkpoints = crate::server::Checkpoints::new(key);
            tokio::spawn(Arc::clone(&checkpoints).run(ledger.clone(), shutdown));
            state = state.with_checkpoints(checkpoints);
        }
        run(listener, state).await?;
        if let Some(relaying) = relaying {
            let _ = relaying.await;
        }
        Ok::<(), Error>(())
    })?;
    ledger.close()
}

pub(crate) async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Prints one stored record as an NDJSON line.
fn emit(bytes: &[u8]) -> Result<()> {
    print(&String::from_utf8_lossy(bytes))
}

pub fn subscribe(dir: &Path, url: Option<String>, after: u64, follow: bool, filter: Filter) -> Result<()> {
    match url {
        None => subscribe_local(dir, after, follow, filter),
        Some(url) => {
            runtime()?.block_on(subscribe_remote(url.trim_end_matches('/').to_string(), after, follow, filter))
        }
    }
}

fn subscribe_local(dir: &Path, after: u64, follow: bool, filter: Filter) -> Result<()> {
    let ledger = super::open_existing(dir)?;
    if !follow {
        for entry in ledger.range_bytes(after + 1, ledger.head().seq) {
            let (_, bytes) = entry?;
            if filter.matches(&bytes) {
                emit(&bytes)?;
            }
        }
        return Ok(());
    }
    runtime()?.block_on(async {
        let stream = ledger.subscribe(after, filter);
        futures::pin_mut!(stream);
        while let Some(delivered) = stream.next().await {
            emit(delivered?.bytes())?;
        }
        Ok(())
    })
}

async fn subscribe_remote(url: String, mut after: u64, follow: bool, filter: Filter) -> Result<()> {
    let client = reqwest::Client::new();
    if !follow {
        loop {
            let mut query = vec![("after", after.to_string()), ("limit", "1000".to_string())];
            if let Some(prefix) = &filter.type_prefix {
                query.push(("type", prefix.clone()));
            }
            let page = crate::relay::events_page(&client, &url, &query).await?;
            for record in page["records"].as_array().into_iter().flatten() {
                let matches = filter.matches(record.to_string().as_bytes());
                if matches {
                    emit(serde_json::to_string(record).expect("a Value serializes").as_bytes())?;
                }
            }
            let next = page["next_after"].as_u64().unwrap_or(after);
            if next == after {
                return Ok(());
            }
            after = next;
        }
    }
    let mut failures = 0;
    loop {
        match follow_once(&client, &url, &mut after, &filter).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures > RECONNECTS_MAX {
                    return Err(e);
                }
                tracing::warn!(error = %e, after, "stream dropped; reconnecting with Last-Event-ID");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(RECONNECT_DELAY_MS)).await;
    }
}

/// One SSE connection, resumed after `after`; advances it as records arrive.
async fn follow_once(client: &reqwest::Client, url: &str, after: &mut u64, filter: &Filter) -> Result<()> {
    let mut query = vec![];
    if let Some(prefix) = &filter.type_prefix {
        query.push(("type", prefix.clone()));
    }
    if let Some(party) = &filter.party {
        query.push(("party", party.clone()));
    }
    let mut records = crate::relay::server_events(client.clone(), url.to_string(), *after, query);
    while let Some(record) = records.next().await {
        let record = record?;
        emit(record.bytes())?;
        *after = record.seq;
    }
    Ok(())
}
