//! `amity serve` as a process: a subscriber that stops reading must cost the
//! server nothing (two servers take the same 20,000 writes of about 8 KiB
//! each, one with a stalled SSE subscriber and one without; every write is
//! acknowledged on both, and the stalled one's resident memory ends within a
//! bound of the other's that is well below what the records total); SIGTERM with a stream open exits 0; and `amity subscribe
//! --url` prints exactly what `amity export` prints.

use crate::common::{rss_mib, serve_process, two_capitals};
use futures::StreamExt;
use serde_json::json;
use std::process::Command;

const TOKEN: &str = "slow-subscriber-token";
const EVENTS: usize = 20_000;
const BATCH: usize = 200;
/// Each record carries a quote this long, so that the records written total
/// about 160 MiB: a server that buffered them for a stalled subscriber grows
/// by over 200 MiB (measured by buffering each subscription in an unbounded
/// channel), far beyond the noise between two processes (measured up to
/// ~35 MiB either way).
const QUOTE_BYTES: usize = 8000;
/// How much more the server with a stalled subscriber may hold: the shared
/// tail's SSE frames (at most its 16 MiB bound) plus allocator noise.
const RSS_MARGIN_MIB: f64 = 48.0;

/// Writes two parties and then [`EVENTS`] activities, each citing a source
/// whose quote is about `quote_bytes` long (none when 0).
async fn write_all(url: &str, quote_bytes: usize) {
    let client = reqwest::Client::new();
    let sources = match quote_bytes {
        0 => json!([]),
        _ => json!([{"title": "a long source", "quote": "Hà Nội – Viêng Chăn ".repeat(quote_bytes / 24)}]),
    };
    let response =
        client.post(format!("{url}/events")).bearer_auth(TOKEN).body(two_capitals().to_string()).send().await.unwrap();
    assert_eq!(response.status(), 201);
    for start in (0..EVENTS).step_by(BATCH) {
        let batch: Vec<_> = (start..start + BATCH)
            .map(|i| {
                json!({"id": format!("e{i}"), "type": "activity.held", "occurred": "2023",
                    "data": {"category": "exchange", "title": format!("a record long enough to matter, number {i}"), "parties": ["vn/hanoi", "la/vientiane"]},
                    "sources": sources})
            })
            .collect();
        let response = client
            .post(format!("{url}/events"))
            .bearer_auth(TOKEN)
            .body(json!(batch).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_neither_blocks_writers_nor_grows_server_memory() {
    let work = tempfile::tempdir().unwrap();
    let stalled_server = serve_process(&work.path().join("stalled"), TOKEN);
    let baseline_server = serve_process(&work.path().join("baseline"), TOKEN);

    // Connect, read nothing, keep the connection open.
    let client = reqwest::Client::new();
    let stalled = client.get(format!("{}/events/stream?after=0", stalled_server.url)).send().await.unwrap();
    assert_eq!(stalled.status(), 200);

    write_all(&stalled_server.url, QUOTE_BYTES).await;
    write_all(&baseline_server.url, QUOTE_BYTES).await;

    for served in [&stalled_server, &baseline_server] {
        let health: serde_json::Value =
            client.get(format!("{}/health", served.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["seq"], EVENTS as u64 + 2, "every write was acknowledged");
    }
    let with_stalled = rss_mib(stalled_server.child.id());
    let without = rss_mib(baseline_server.child.id());
    eprintln!("server RSS: {with_stalled:.1} MiB with a stalled subscriber, {without:.1} MiB without");
    assert!(
        with_stalled < without + RSS_MARGIN_MIB,
        "a stalled subscriber grew the server to {with_stalled:.1} MiB (baseline {without:.1} MiB)"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stream_open_exits_0_and_keeps_every_write() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let mut served = serve_process(&db, TOKEN);
    write_all(&served.url, 0).await;
    let client = reqwest::Client::new();
    let stream = client.get(format!("{}/events/stream?after=0", served.url)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    // Wait until the stream is really delivering, then stop the server.
    let mut body = stream.bytes_stream();
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("id: 1\n") {
        received.extend_from_slice(&body.next().await.expect("the stream delivers").unwrap());
    }
    let pid = served.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || {
        let status = served.child.wait().unwrap();
        drop(served);
        status
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
    // The open stream ends (rather than hanging) once the server has stopped.
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            break;
        }
    }
    let verify = crate::common::amity(&db, &["verify"], b"");
    assert!(crate::common::text(&verify.stdout).starts_with(&format!("ok {} records", EVENTS + 2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_over_http_prints_exactly_the_export() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let served = serve_process(&db, TOKEN);
    write_all(&served.url, 0).await;
    let url = served.url.clone();
    let (printed, exported) = tokio::task::spawn_blocking(move || {
        let other = work.path().join("unused");
        let printed = crate::common::amity(&other, &["subscribe", "--url", &url, "--after", "0"], b"");
        assert!(printed.status.success(), "{}", crate::common::text(&printed.stderr));
        drop(served);
        (printed.stdout, crate::common::export(&db))
    })
    .await
    .unwrap();
    assert!(printed == exported, "subscribe --url printed {} bytes, export {}", printed.len(), exported.len());
}
