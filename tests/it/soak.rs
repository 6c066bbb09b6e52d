//! Soak: a real `amity serve` under steady writers, SSE subscribers and view
//! queries for a bounded time (20 s in CI; `AMITY_SOAK_SECONDS=600` by hand),
//! all on loopback. Every request succeeds, every subscriber receives the
//! whole log in order, resident memory stays flat, and the chain verifies.

use crate::common::{rss_mib, serve_process, two_capitals};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "soak-token";
const WRITERS: u64 = 4;
const BATCH: u64 = 10;
const WRITE_EVERY_MS: u64 = 20;
const SUBSCRIBERS: usize = 8;
/// How much resident memory may grow between the first quarter of the run
/// and its end (sled's cache and the views grow with the log; a leak grows
/// with time).
const RSS_GROWTH_MIB_MAX: f64 = 96.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_load_keeps_memory_flat_and_every_subscriber_complete() {
    let seconds: u64 = std::env::var("AMITY_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let work = tempfile::tempdir().unwrap();
    let mut served = serve_process(&work.path().join("db"), TOKEN);
    let url = served.url.clone();
    let pid = served.child.id();
    let client = reqwest::Client::new();
    let response =
        client.post(format!("{url}/events")).bearer_auth(TOKEN).body(two_capitals().to_string()).send().await.unwrap();
    assert_eq!(response.status(), 201);

    let final_seq = Arc::new(AtomicU64::new(0));
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let (url, final_seq) = (url.clone(), Arc::clone(&final_seq));
            tokio::spawn(async move {
                let mut last = 0u64;
                let mut count = 0u64;
                loop {
                    let response = reqwest::Client::new()
                        .get(format!("{url}/events/stream"))
                        .header("Last-Event-ID", last.to_string())
                        .send()
                        .await
                        .unwrap();
                    let mut events = response.bytes_stream().eventsource();
                    loop {
                        let done = final_seq.load(Ordering::SeqCst);
                        if done != 0 && last == done {
                            return count;
                        }
                        match tokio::time::timeout(Duration::from_millis(500), events.next()).await {
                            Ok(Some(Ok(event))) => {
                                let seq: u64 = event.id.parse().unwrap();
                                assert_eq!(seq, last + 1, "in order, no gap, no duplicate");
                                last = seq;
                                count += 1;
                            }
                            Ok(_) => break,
                            Err(_) => continue,
                        }
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut tick = tokio::time::interval(Duration::from_millis(WRITE_EVERY_MS));
                let mut written = 0u64;
                while Instant::now() < deadline {
                    tick.tick().await;
                    let batch: Vec<Value> = (0..BATCH)
                        .map(|i| {
                            json!({"id": format!("soak-{w}-{written}-{i}"), "type": "activity.held", "occurred": "2023",
                                "data": {"category": "exchange", "title": "soak", "parties": ["vn/hanoi", "la/vientiane"]}})
                        })
                        .collect();
                    let response = client.post(format!("{url}/events")).bearer_auth(TOKEN).body(json!(batch).to_string()).send().await.unwrap();
                    assert_eq!(response.status(), 201);
                    written += 1;
                }
                written * BATCH
            })
        })
        .collect();
    let readers = {
        let url = url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut queries = 0u64;
            while Instant::now() < deadline {
                for path in ["/views/agreements", "/views/projects", "/views/aid?at_seq=50", "/views/visits", "/health"]
                {
                    let response = client.get(format!("{url}{path}")).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{path}");
                    queries += 1;
                }
            }
            queries
        })
    };
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        samples.push(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(250)).await; // sampling interval of a measurement
    }
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    let queries = readers.await.unwrap();
    let health: Value = client.get(format!("{url}/health")).send().await.unwrap().json().await.unwrap();
    let head = health["seq"].as_u64().unwrap();
    assert_eq!(head, written + 2);
    final_seq.store(head, Ordering::SeqCst);
    for subscriber in subscribers {
        assert_eq!(subscriber.await.unwrap(), head, "every subscriber received the whole log");
    }
    let verify: Value = client.get(format!("{url}/verify")).send().await.unwrap().json().await.unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    let early = samples[samples.len() / 4];
    let end = *samples.last().unwrap();
    let peak = samples.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "soak {seconds} s: {written} records ({:.0}/s), {queries} view queries, {SUBSCRIBERS} subscribers complete; RSS {early:.1} MiB at 25%, {end:.1} MiB at the end, peak {peak:.1} MiB",
        written as f64 / seconds as f64
    );
    assert!(end < early + RSS_GROWTH_MIB_MAX, "RSS grew from {early:.1} to {end:.1} MiB");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    assert_eq!(served.child.wait().unwrap().code(), Some(0));
}
