//! Service benchmark, in one process on loopback:
//! 1. durable appends/s with 64 concurrent clients, over HTTP and, as the
//!    baselines, through the library (same committer, no HTTP) and into a
//!    PostgreSQL events table (`id` unique, `synchronous_commit=on`, one
//!    insert per transaction from 64 connections), a cluster the benchmark
//!    starts and stops itself from Debian's `postgresql` binaries;
//! 2. SSE delivery latency from acknowledgement to receipt (p50, p99) for
//!    100 subscribers while a writer posts a steady 5,000 events/s.
//!
//! `cargo bench --bench http -- [--appends N] [--seconds S]`

use amity::server::{run, AppState};
use amity::{Ledger, Options};
use events::Checked;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "bench";
const CLIENTS: usize = 64;
const SUBSCRIBERS: usize = 100;
const RATE_PER_S: u64 = 5000;
const TICK_MS: u64 = 10;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn activity(id: &str) -> Value {
    json!({"id": id, "type": "activity.held", "occurred": "2023-11",
        "data": {"category": "exchange", "title": format!("benchmark event {id}"), "parties": ["vn/hanoi", "la/vientiane"]}})
}

fn checked(value: &Value) -> Checked {
    Checked::parse(&serde_json::to_vec(value).unwrap()).unwrap()
}

fn fresh_ledger(dir: &std::path::Path) -> Ledger {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let parties = [
        json!({"type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN"}}),
        json!({"type": "party.registered", "occurred": "2022", "data": {"party": "la/vientiane", "name": "Viêng Chăn", "kind": "city", "country": "LA"}}),
    ];
    ledger.append_group(parties.iter().map(checked).collect()).unwrap();
    ledger
}

async fn serve(ledger: &Ledger) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(run(listener, AppState::new(ledger.clone(), Some(TOKEN.into()), shutdown)));
    (url, stop)
}

/// A server that does all of HTTP and nothing of the ledger: the same
/// route, the bearer token read, the body taken whole, a 201 with a body
/// the size of a stored record. What HTTP alone costs on these two cores.
async fn serve_http_alone() -> (String, tokio::sync::watch::Sender<bool>) {
    use axum::http::{HeaderMap, StatusCode};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let record = Arc::<str>::from(activity("h0").to_string().repeat(2));
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                assert!(headers.contains_key("authorization") && !body.is_empty());
                (StatusCode::CREATED, [("content-type", "application/json")], record.to_string())
            }
        }),
    );
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| tcp.set_nodelay(true).unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    });
    (url, stop)
}

/// `appends` single-submission appends from 64 concurrent tasks; records/s.
async fn appends_over_http(url: &str, appends: u64) -> f64 {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                for i in (c as u64..appends).step_by(CLIENTS) {
                    let response = client
                        .post(format!("{url}/events"))
                        .bearer_auth(TOKEN)
                        .body(activity(&format!("h{i}")).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    appends as f64 / started.elapsed().as_secs_f64()
}

async fn appends_through_library(ledger: &Ledger, appends: u64) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for i in (c as u64..appends).step_by(CLIENTS) {
                    ledger.append_group_async(vec![checked(&activity(&format!("l{i}")))]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    appends as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn sse_latency(url: &str, ledger: &Ledger, seconds: u64) -> (Vec<f64>, usize) {
    let start_seq = ledger.head().seq;
    let total = RATE_PER_S * seconds;
    let until = start_seq + total;
    let acked: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move {
                let response =
                    reqwest::Client::new().get(format!("{url}/events/stream?after={start_seq}")).send().await.unwrap();
                // Each chunk is timed once as it arrives and only its `id:`
                // lines are read: a full SSE parser per event (as
                // `eventsource-stream` is) made 100 in-process clients, not
                // the server, the tail of the latency.
                let mut chunks = response.bytes_stream();
                let mut received = Vec::with_capacity(total as usize);
                let mut partial = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    let at = Instant::now();
                    partial.extend_from_slice(&chunk.unwrap());
                    let complete = partial.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                    for line in partial[..complete].split(|&b| b == b'\n') {
                        if let Some(id) = line.strip_prefix(b"id: ") {
                            received.push((std::str::from_utf8(id).unwrap().parse::<u64>().unwrap(), at));
                        }
                    }
                    partial.drain(..complete);
                    if received.last().is_some_and(|&(seq, _)| seq == until) {
                        break;
                    }
                }
                received
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await; // let the subscribers connect before the clock starts
    let client = reqwest::Client::new();
    let per_tick = RATE_PER_S * TICK_MS / 1000;
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    let mut sent = 0;
    while sent < total {
        tick.tick().await;
        let batch: Vec<Value> = (sent..sent + per_tick).map(|i| activity(&format!("s{i}"))).collect();
        let response = client
            .post(format!("{url}/events"))
            .bearer_auth(TOKEN)
            .body(json!(batch).to_string())
            .send()
            .await
            .unwrap();
        let now = Instant::now();
        let records: Vec<Value> = response.json().await.unwrap();
        let mut acked = acked.lock().unwrap();
        for record in records {
            acked.insert(record["seq"].as_u64().unwrap(), now);
        }
        sent += per_tick;
    }
    let mut latencies_ms = Vec::new();
    let mut complete = 0;
    for subscriber in subscribers {
        let received = subscriber.await.unwrap();
        if received.len() as u64 == total {
            complete += 1;
        }
        let acked = acked.lock().unwrap();
        for (seq, at) in received {
            if let Some(ack) = acked.get(&seq) {
                latencies_ms.push(at.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    (latencies_ms, complete)
}

/// A throwaway PostgreSQL cluster (Debian's binaries), owned by the
/// `postgres` user as `initdb` demands, listening on 127.0.0.1 only, with
/// durable commits (`fsync` and `synchronous_commit` on, their defaults);
/// stopped and removed on drop.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// `None` (and why, on stderr) where PostgreSQL is not installed.
    fn start() -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).max()?;
        let dir = PathBuf::from(format!("/tmp/amity-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let as_postgres = |program: &str, args: &[&str]| {
            let status = std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join(program))
                .args(args)
                .stdout(std::process::Stdio::null())
                .status();
            status.is_ok_and(|s| s.success())
        };
        if !std::process::Command::new("chown").arg("postgres").arg(&dir).status().is_ok_and(|s| s.success()) {
            eprintln!("PostgreSQL peer skipped: cannot give {} to the postgres user", dir.display());
            return None;
        }
        let data = dir.join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=100 -c fsync=on -c synchronous_commit=on",
            dir.display()
        );
        let started = as_postgres("initdb", &["-D", data.to_str()?, "-A", "trust", "-U", "postgres"])
            && as_postgres(
                "pg_ctl",
                &["-D", data.to_str()?, "-o", &options, "-l", dir.join("log").to_str()?, "-w", "start"],
            );
        if !started {
            eprintln!("PostgreSQL peer skipped: the cluster did not start (see {})", dir.display());
            return None;
        }
        Some(Postgres { bin, dir, port })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The same appends into a PostgreSQL events table, one transaction each,
/// from 64 connections: what a service would do with PostgreSQL alone.
async fn appends_into_postgres(postgres: &Postgres, appends: u64) -> f64 {
    let config = format!("host=127.0.0.1 port={} user=postgres dbname=postgres", postgres.port);
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    };
    connect()
        .await
        .batch_execute(
            "CREATE TABLE events (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE, type text NOT NULL,
                occurred text NOT NULL, record jsonb NOT NULL)",
        )
        .await
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(connect().await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, client)| {
            tokio::spawn(async move {
                let insert = client
                    .prepare("INSERT INTO events (id, type, occurred, record) VALUES ($1, $2, $3, $4::text::jsonb)")
                    .await
                    .unwrap();
                for i in (c as u64..appends).step_by(CLIENTS) {
                    let id = format!("p{i}");
                    let record = activity(&id).to_string();
                    client.execute(&insert, &[&id, &"activity.held", &"2023-11", &record]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    appends as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    amity::tune_allocator();
    let appends = arg("--appends", 20_000);
    let seconds = arg("--seconds", 5);
    let work = tempfile::tempdir().unwrap();
    let library = fresh_ledger(&work.path().join("library"));
    let http = fresh_ledger(&work.path().join("http"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (url, stop) = serve(&http).await;
        let baseline = appends_through_library(&library, appends).await;
        let over_http = appends_over_http(&url, appends).await;
        let (alone_url, alone_stop) = serve_http_alone().await;
        let http_alone = appends_over_http(&alone_url, appends).await;
        let _ = alone_stop.send(true);
        println!("durable appends, {CLIENTS} concurrent clients, {appends} appends each way");
        println!("{:<40} {:>12.0} /s", "library (committer, no HTTP)", baseline);
        println!("{:<40} {:>12.0} /s", "HTTP alone (201 from a stub, no ledger)", http_alone);
        // Both halves are CPU-bound on the same two cores, so their costs
        // per append add up.
        let bound = 1.0 / (1.0 / baseline + 1.0 / http_alone);
        println!("{:<40} {:>12.0} /s   (1 / (1/library + 1/HTTP alone))", "both halves on these cores, at best", bound);
        println!(
            "{:<40} {:>12.0} /s   {:.0}% of library, {:.0}% of that bound",
            "HTTP POST /events",
            over_http,
            100.0 * over_http / baseline,
            100.0 * over_http / bound
        );
        if let Some(postgres) = Postgres::start() {
            let peer = appends_into_postgres(&postgres, appends).await;
            println!(
                "{:<40} {:>12.0} /s   HTTP is {:.2}× PostgreSQL",
                "PostgreSQL INSERT, 64 connections",
                peer,
                over_http / peer
            );
        }

        let (latencies, complete) = sse_latency(&url, &http, seconds).await;
        println!(
            "SSE: {SUBSCRIBERS} subscribers, {RATE_PER_S} events/s for {seconds} s: {complete}/{SUBSCRIBERS} received every event"
        );
        println!(
            "delivery latency, acknowledgement to receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} deliveries)",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0.0),
            latencies.len()
        );
        let _ = stop.send(true);
    });
}
