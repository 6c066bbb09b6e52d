//! The NATS JetStream relay, against real `nats-server` processes on
//! loopback (CI installs Debian's `nats-server`; elsewhere these tests say
//! they were skipped when it is missing, and fail in CI). The relay is killed
//! at random points, NATS is restarted under it, a cluster node is stopped;
//! each time the stream must end up holding every record exactly once, in
//! seq order, byte for byte as `amity export` prints it, with the right
//! headers; and `amity follow-nats` must rebuild the views `amity view` shows.
//! Each test prints its seed; `AMITY_NATS_SEED=N` replays it.

use crate::common::{amity, export, serve_process_with, text, ServeProcess};
use async_nats::jetstream;
use events::generate::History;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "relay-test";

/// `nats-server`, or `None` (with a notice) outside CI when it is missing.
fn nats_server() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').map(PathBuf::from).chain(["/usr/sbin".into(), "/usr/local/bin".into()]);
    let found = dirs.map(|d| d.join("nats-server")).find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "nats-server is required in CI (.ci/run installs it)");
        eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
    }
    found
}

fn seed() -> u64 {
    let seed = std::env::var("AMITY_NATS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("nats test seed {seed} (AMITY_NATS_SEED={seed} replays it)");
    seed
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `nats-server` process with JetStream, restartable on the same port
/// and store directory.
struct Nats {
    binary: PathBuf,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl Nats {
    fn start(binary: &Path, store: &Path, extra: &[String]) -> Nats {
        let port = free_port();
        let mut args: Vec<String> = ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"].map(String::from).into();
        args.push(store.display().to_string());
        args.extend_from_slice(extra);
        let mut nats = Nats { binary: binary.to_path_buf(), args, port, child: None };
        nats.restart();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new(&self.binary).args(&self.args).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        self.child = Some(child.expect("nats-server starts"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `amity relay --url SERVER --nats NATS ARGS`, its stderr kept in `log`.
fn relay_process(server: &str, nats: &str, args: &[&str], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_amity"))
        .args(["relay", "--url", server, "--nats", nats])
        .args(args)
        .env("AMITY_TOKEN", TOKEN)
        .env("RUST_LOG", "amity=info,async_nats=info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the amity binary runs")
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Posts the Hanoi–Vientiane history, then `count` generated submissions in
/// batches of 50, from a thread; returns it (joined: the writes are done).
fn write_in_background(url: &str, seed: u64, count: usize) -> std::thread::JoinHandle<()> {
    let history = include_str!("../../data/hanoi-vientiane.ndjson");
    let mut submissions: Vec<Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    submissions.extend(History::generate(seed, count));
    post_in_background(url, submissions)
}

/// `count` activities between Hanoi and Vientiane, ids starting `prefix`.
fn activities(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            serde_json::json!({"id": format!("{prefix}-{i}"), "type": "activity.held", "occurred": "2026",
                "data": {"category": "exchange", "title": format!("exchange {i}"), "parties": ["vn/hanoi", "la/vientiane"]}})
        })
        .collect()
}

/// Posts `submissions` in batches of 50, from a thread.
fn post_in_background(url: &str, submissions: Vec<Value>) -> std::thread::JoinHandle<()> {
    let url = url.to_string();
    std::thread::spawn(move || {
        runtime().block_on(async {
            let client = reqwest::Client::new();
            for batch in submissions.chunks(50) {
                let response = client
                    .post(format!("{url}/events"))
                    .bearer_auth(TOKEN)
                    .json(&Value::Array(batch.to_vec()))
                    .send()
                    .await
                    .expect("the server answers");
                assert!(response.status().is_success(), "{}", response.text().await.unwrap_or_default());
            }
        })
    })
}

fn head(url: &str) -> u64 {
    runtime().block_on(async {
        let health: Value = reqwest::get(format!("{url}/health")).await.unwrap().json().await.unwrap();
        health["seq"].as_u64().expect("health names the head seq")
    })
}

/// Waits until stream `name` on any of `urls` ends at `seq`.
fn wait_for_stream(urls: &str, name: &str, seq: u64, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    runtime().block_on(async {
        let mut last = 0;
        while Instant::now() < deadline {
            if let Ok(client) = connect(urls).await {
                if let Ok(mut stream) = jetstream::new(client).get_stream(name).await {
                    if let Ok(info) = stream.info().await {
                        last = info.state.last_sequence;
                        if last >= seq {
                            return;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{why}: stream {name} reached only {last} of {seq}");
    });
}

/// Every message of the stream, read one by one by sequence (not the way
/// `follow-nats` reads it).
fn stream_messages(urls: &str, name: &str) -> Vec<jetstream::message::StreamMessage> {
    runtime().block_on(async {
        let client = connect(urls).await.unwrap();
        let mut stream = jetstream::new(client).get_stream(name).await.unwrap();
        let info = stream.info().await.unwrap().clone();
        assert_eq!(info.state.messages, info.state.last_sequence, "no sequence is missing or deleted");
        let mut messages = Vec::new();
        for seq in 1..=info.state.last_sequence {
            messages.push(stream.get_raw_message(seq).await.unwrap());
        }
        messages
    })
}

/// The stream holds `exported` exactly: record seq N at sequence N, byte
/// for byte, on `amity.<type>`, with `Amity-Seq`, `Amity-Hash` and
/// `Nats-Msg-Id` right.
fn assert_stream_is_export(messages: &[jetstream::message::StreamMessage], exported: &[u8], context: &str) {
    let lines: Vec<&[u8]> = exported.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(messages.len(), lines.len(), "{context}: stream length against the export");
    for (index, (message, line)) in messages.iter().zip(&lines).enumerate() {
        let seq = index as u64 + 1;
        assert_eq!(message.sequence, seq, "{context}");
        assert!(message.payload.as_ref() == *line, "{context}: seq {seq} is not byte-identical to the export");
        let record: Value = serde_json::from_slice(line).unwrap();
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
        assert_eq!(header("Amity-Seq"), Some(seq.to_string()), "{context}");
        assert_eq!(header("Amity-Hash").as_deref(), record["hash"].as_str(), "{context}: seq {seq}");
        assert_eq!(header("Nats-Msg-Id").as_deref(), record["id"].as_str(), "{context}: seq {seq}");
        assert_eq!(message.subject.as_str(), format!("amity.{}", record["type"].as_str().unwrap()), "{context}");
    }
}

/// Stops the server (SIGKILL: the ledger is durable) and checks the stream
/// against `amity export` of its ledger.
fn finish(served: ServeProcess, dir: &Path, urls: &str, stream: &str, context: &str) -> Vec<u8> {
    let head = head(&served.url);
    wait_for_stream(urls, stream, head, context);
    drop(served);
    let exported = export(dir);
    assert_stream_is_export(&stream_messages(urls, stream), &exported, context);
    exported
}

#[test]
fn relay_killed_at_random_points_publishes_every_record_once_in_order() {
    let Some(binary) = nats_server() else { return };
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let nats = Nats::start(&binary, &work.path().join("js"), &[]);
    let dir = work.path().join("ledger");
    let served = serve_process_with(&dir, TOKEN, &[]);
    let log = work.path().join("relay.log");
    let writer = write_in_background(&served.url, seed, 10_000);
    for round in 0..6 {
        let mut relay = relay_process(&served.url, &nats.url(), &[], &log);
        std::thread::sleep(Duration::from_millis(rng.random_range(100..900)));
        kill(&mut relay);
        eprintln!("round {round}: relay killed; stream at {}", stream_end(&nats.url()));
    }
    writer.join().unwrap();
    let mut relay = relay_process(&served.url, &nats.url(), &[], &log);
    let context = format!("seed {seed}, log {}", text(&std::fs::read(&log).unwrap_or_default()));
    let position_url = format!("{}/subscriptions/relay-amity", served.url);
    let head = head(&served.url);
    wait_for_stream(&nats.url(), "amity", head, &context);
    // The position follows the acknowledgements.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let position: Value =
            runtime().block_on(async { reqwest::get(&position_url).await.unwrap().json().await.unwrap() });
        if position["seq"].as_u64() == Some(head) {
            break;
        }
        assert!(Instant::now() < deadline, "the relay's position stayed at {position} of {head}");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(&mut relay);
    let exported = finish(served, &dir, &nats.url(), "amity", &context);

    // A ledger lost with its disk comes back from the stream alone.
    let restored = work.path().join("restored");
    let from_nats = amity(&restored, &["restore", "--nats", &nats.url(), "--stream", "amity"], b"");
    assert!(from_nats.status.success(), "restore --nats: {}", text(&from_nats.stderr));
    assert!(text(&from_nats.stdout).contains(&format!("ok {head} records")), "{}", text(&from_nats.stdout));
    assert!(export(&restored) == exported, "the restored ledger's export is byte-identical to the original's");

    // A remote service with nothing but the stream: the same views.
    for view in ["agreements", "projects", "aid", "visits"] {
        // Valid time applies to agreements and projects only.
        let as_of: &[&str] = if matches!(view, "aid" | "visits") { &[] } else { &["--as-of", "2024-06-01"] };
        let local = amity(&dir, &[&["view", view, "--json"][..], as_of].concat(), b"");
        let follow = ["follow-nats", "--nats", &nats.url(), "--stream", "amity", view, "--json"];
        let remote = amity(&dir, &[&follow[..], as_of].concat(), b"");
        assert!(remote.status.success(), "follow-nats: {}", text(&remote.stderr));
        assert!(text(&remote.stderr).contains(&format!("verified {head} records")), "{}", text(&remote.stderr));
        assert_eq!(text(&remote.stdout), text(&local.stdout), "{view}");
    }
}

/// A client of any of the comma-separated `urls`.
async fn connect(urls: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let servers: Vec<&str> = urls.split(',').collect();
    async_nats::connect(servers.as_slice()).await
}

fn stream_end(urls: &str) -> u64 {
    runtime()
        .block_on(async {
            let client = connect(urls).await.ok()?;
            let mut stream = jetstream::new(client).get_stream("amity").await.ok()?;
            Some(stream.info().await.ok()?.state.last_sequence)
        })
        .unwrap_or(0)
}

#[test]
fn nats_restarted_under_the_relay_inside_the_server_loses_and_repeats_nothing() {
    let Some(binary) = nats_server() else { return };
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(&binary, &work.path().join("js"), &[]);
    let dir = work.path().join("ledger");
    let served = serve_process_with(&dir, TOKEN, &["--relay-nats", &nats.url()]);
    let writer = write_in_background(&served.url, seed, 5_000);
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        nats.kill();
        eprintln!("round {round}: nats-server killed");
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        nats.restart();
    }
    writer.join().unwrap();
    finish(served, &dir, &nats.url(), "amity", &format!("seed {seed}"));

    // And the server itself killed and restarted: its relay picks up again.
    let served = serve_process_with(&dir, TOKEN, &["--relay-nats", &nats.url()]);
    post_in_background(&served.url, activities("after-restart", 500)).join().unwrap();
    finish(served, &dir, &nats.url(), "amity", &format!("seed {seed}, after a server restart"));
}

#[test]
fn a_cluster_node_stopped_mid_relay_leaves_the_replicated_stream_complete() {
    let Some(binary) = nats_server() else { return };
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let route_urls = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let mut nodes: Vec<Nats> = (0..3)
        .map(|i| {
            let extra = [
                "--server_name".to_string(),
                format!("n{i}"),
                "--cluster_name".to_string(),
                "amity-test".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{}", routes[i]),
                "--routes".to_string(),
                route_urls.clone(),
            ];
            Nats::start(&binary, &work.path().join(format!("js{i}")), &extra)
        })
        .collect();
    let urls = nodes.iter().map(Nats::url).collect::<Vec<_>>().join(",");
    let dir = work.path().join("ledger");
    let served = serve_process_with(&dir, TOKEN, &[]);
    let log = work.path().join("relay.log");
    let writer = write_in_background(&served.url, seed, 3_000);
    let mut relay = relay_process(&served.url, &urls, &["--replicas", "3"], &log);
    // Mid relay: the R3 stream exists (creating one needs all three nodes;
    // on a loaded machine the relay may not have made it yet) and holds
    // records, then a node stops at a random moment.
    wait_for_stream(&urls, "amity", 1, &format!("seed {seed}: the relay's first record"));
    std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
    let stopped = rng.random_range(0..3);
    nodes[stopped].kill();
    eprintln!("node n{stopped} stopped");
    writer.join().unwrap();
    let survivors = nodes.iter().filter(|n| n.child.is_some()).map(Nats::url).collect::<Vec<_>>().join(",");
    let context =
        format!("seed {seed}, node {stopped} stopped, log {}", text(&std::fs::read(&log).unwrap_or_default()));
    let exported_head = head(&served.url);
    wait_for_stream(&survivors, "amity", exported_head, &context);
    kill(&mut relay);
    let info = runtime().block_on(async {
        let client = connect(&survivors).await.unwrap();
        jetstream::new(client).get_stream("amity").await.unwrap().info().await.unwrap().clone()
    });
    assert_eq!(info.config.num_replicas, 3, "an R3 stream");
    finish(served, &dir, &survivors, "amity", &context);
}

#[test]
fn the_relay_refuses_a_stream_that_holds_another_ledger() {
    let Some(binary) = nats_server() else { return };
    let work = tempfile::tempdir().unwrap();
    let nats = Nats::start(&binary, &work.path().join("js"), &[]);
    runtime().block_on(async {
        let context = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let config =
            jetstream::stream::Config { name: "amity".into(), subjects: vec!["amity.>".into()], ..Default::default() };
        context.create_stream(config).await.unwrap();
        context.publish("amity.party.registered", "not a record".into()).await.unwrap().await.unwrap();
    });
    let dir = work.path().join("ledger");
    let served = serve_process_with(&dir, TOKEN, &[]);
    write_in_background(&served.url, 1, 10).join().unwrap();
    let log = work.path().join("relay.log");
    let mut relay = relay_process(&served.url, &nats.url(), &[], &log);
    let status = relay.wait().unwrap();
    let said = text(&std::fs::read(&log).unwrap());
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(said.contains("seq 1") && said.contains("not this ledger's relay"), "{said}");
    assert_eq!(stream_end(&nats.url()), 1, "nothing was published");

    // Nor does restore take it: the chain is checked before anything stays.
    let restored = work.path().join("restored");
    let from_nats = amity(&restored, &["restore", "--nats", &nats.url(), "--stream", "amity"], b"");
    assert_eq!(from_nats.status.code(), Some(1), "{}", text(&from_nats.stderr));
    assert!(text(&from_nats.stderr).contains("seq 1"), "{}", text(&from_nats.stderr));
    assert!(!restored.exists(), "a refused restore leaves nothing behind");
}
