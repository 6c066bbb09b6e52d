//! The HTTP service as clients use it: writes behind the token, SSE
//! subscribers that must see exactly the log, reconnects with
//! `Last-Event-ID`, and a shutdown with streams open.

use crate::common::*;
use amity::server::{run, AppState, REQUEST_BODY_BYTES_MAX};
use amity::Ledger;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::watch;

const TOKEN: &str = "test-token-4f1c";
/// A bound on how long any one await in these tests may take: a hang fails
/// the test instead of blocking CI. It is not a performance assertion.
const HANG_LIMIT: Duration = Duration::from_secs(120);

struct Server {
    url: String,
    ledger: Ledger,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(token: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let state = AppState::new(ledger.clone(), token.map(str::to_string), shutdown);
    let handle = tokio::spawn(run(listener, state));
    Server { url, ledger, stop, handle, _dir: dir }
}

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_LIMIT, future).await.expect("did not hang")
}

fn activity(id: &str) -> Value {
    json!({"id": id, "type": "activity.held", "occurred": "2023-11",
        "data": {"category": "exchange", "title": format!("event {id}"), "parties": ["vn/hanoi", "la/vientiane"]}})
}

async fn seed(server: &Server, count: usize) {
    let mut group = vec![checked(&party("p-hn", "vn/hanoi", "VN")), checked(&party("p-vt", "la/vientiane", "LA"))];
    group.extend((2..count).map(|i| checked(&activity(&format!("seed-{i}")))));
    server.ledger.append_group_async(group).await.unwrap();
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut request = client.post(format!("{url}/events")).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn head(client: &reqwest::Client, url: &str) -> u64 {
    let health: Value = client.get(format!("{url}/health")).send().await.unwrap().json().await.unwrap();
    health["seq"].as_u64().unwrap()
}

/// Reads an SSE stream from `after` until seq `until`, optionally dropping
/// the connection after `drop_after` records and resuming with
/// `Last-Event-ID`. Returns every (seq, type, data) received.
async fn subscribe(url: String, after: u64, until: u64, drop_after: Option<usize>) -> Vec<(u64, String, String)> {
    let client = reqwest::Client::new();
    let mut received: Vec<(u64, String, String)> = Vec::new();
    let mut last = after;
    let mut dropped = false;
    while last < until {
        let mut request = client.get(format!("{url}/events/stream"));
        if received.is_empty() && !dropped {
            request = request.query(&[("after", after)]);
        } else {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            let seq: u64 = event.id.parse().unwrap();
            received.push((seq, event.event, event.data));
            last = seq;
            if last == until {
                break;
            }
            if drop_after.is_some_and(|n| received.len() == n) && !dropped {
                dropped = true;
                break;
            }
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sse_subscribers_see_exactly_the_log_while_eight_writers_post() {
    const SEEDED: u64 = 100;
    const WRITERS: usize = 8;
    const EACH: usize = 625;
    let server = start(Some(TOKEN)).await;
    seed(&server, SEEDED as usize).await;
    let total = SEEDED + (WRITERS * EACH) as u64;

    let subscribers: Vec<_> = (0..50u64)
        .map(|i| {
            let after = (i * 7) % SEEDED;
            // Every fifth subscriber disconnects midway and resumes.
            let drop_after = (i % 5 == 0).then_some(40 + i as usize);
            (after, tokio::spawn(subscribe(server.url.clone(), after, total, drop_after)))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..EACH {
                    let (status, body) =
                        post(&client, &url, Some(TOKEN), activity(&format!("w{w}-{i}")).to_string()).await;
                    assert_eq!(status, 201, "{body}");
                }
            })
        })
        .collect();
    for writer in writers {
        bounded(writer).await.unwrap();
    }
    assert_eq!(server.ledger.head().seq, total);

    for (after, subscriber) in subscribers {
        let received = bounded(subscriber).await.unwrap();
        let seqs: Vec<u64> = received.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(
            seqs,
            (after + 1..=total).collect::<Vec<_>>(),
            "subscriber after {after}: every record once, in order"
        );
        for (seq, event_type, data) in received.iter().step_by(97) {
            let stored = server.ledger.get_bytes(*seq).unwrap().unwrap();
            assert_eq!(data.as_bytes(), stored.as_slice(), "seq {seq} is delivered exactly as stored");
            let record: Value = serde_json::from_str(data).unwrap();
            assert_eq!(&record["type"], event_type);
        }
    }
    server.stop.send(true).unwrap();
    bounded(server.handle).await.unwrap().unwrap();
    assert_eq!(server.ledger.verify(|_| {}).unwrap().count, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_token_and_rejected_requests_append_nothing() {
    let server = start(Some(TOKEN)).await;
    seed(&server, 3).await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let good = activity("good-1").to_string();

    assert_eq!(post(&client, url, None, good.clone()).await.0, 401);
    assert_eq!(post(&client, url, Some("wrong-token"), good.clone()).await.0, 401);
    assert_eq!(post(&client, url, Some(""), good.clone()).await.0, 401);

    let bad_date = json!({"type": "activity.held", "occurred": "2023-02-30",
        "data": {"category": "exchange", "title": "t", "parties": ["vn/hanoi"]}});
    let (status, body) = post(&client, url, Some(TOKEN), bad_date.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "occurred", "{body}");

    let batch = json!([activity("b-1"), {"type": "activity.held", "occurred": "2023", "data": {"category": "x"}}]);
    let (status, body) = post(&client, url, Some(TOKEN), batch.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["index"], 1, "the error names the batch element: {body}");

    let huge = format!(
        r#"{{"type":"activity.held","occurred":"2023","data":{{"title":"{}"}}}}"#,
        "a".repeat(REQUEST_BODY_BYTES_MAX)
    );
    assert_eq!(post(&client, url, Some(TOKEN), huge).await.0, 413);

    let (status, body) = post(&client, url, Some(TOKEN), "{\"type\":").await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(head(&client, url).await, 3, "no rejected request appended anything");

    let (status, body) = post(&client, url, Some(TOKEN), json!([activity("b-1"), activity("b-2")]).to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 2);
    let (status, _) = post(&client, url, Some(TOKEN), activity("b-1").to_string()).await;
    assert_eq!(status, 200, "an idempotent re-send appends nothing and says so");
    let mut changed = activity("b-1");
    changed["data"]["title"] = json!("other");
    assert_eq!(post(&client, url, Some(TOKEN), changed.to_string()).await.0, 409);
    assert_eq!(head(&client, url).await, 5);

    // Named subscriptions need the token to move.
    let ack = client.put(format!("{url}/subscriptions/relay")).body(r#"{"seq": 4}"#).send().await.unwrap();
    assert_eq!(ack.status(), 401);
    let ack =
        client.put(format!("{url}/subscriptions/relay")).bearer_auth(TOKEN).body(r#"{"seq": 4}"#).send().await.unwrap();
    assert_eq!(ack.status(), 200);
    let position: Value = client.get(format!("{url}/subscriptions/relay")).send().await.unwrap().json().await.unwrap();
    assert_eq!(position["seq"], 4);
    let beyond = client
        .put(format!("{url}/subscriptions/relay"))
        .bearer_auth(TOKEN)
        .body(r#"{"seq": 99}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 400);
    server.stop.send(true).unwrap();
    bounded(server.handle).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_server_serves_reads_and_refuses_writes() {
    let server = start(None).await;
    seed(&server, 3).await;
    let client = reqwest::Client::new();
    let (status, body) = post(&client, &server.url, Some(TOKEN), activity("x").to_string()).await;
    assert_eq!(status, 403, "{body}");
    let page: Value =
        client.get(format!("{}/events?after=1&limit=1", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["next_after"], 2);
    assert_eq!(page["records"][0]["seq"], 2);
    let view = client.get(format!("{}/views/visits", server.url)).send().await.unwrap();
    assert_eq!(view.status(), 200);
    assert_eq!(head(&client, &server.url).await, 3);
    server.stop.send(true).unwrap();
    bounded(server.handle).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_streams_open_ends_them_and_loses_no_acknowledged_write() {
    let server = start(Some(TOKEN)).await;
    seed(&server, 3).await;
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let response = client.get(format!("{}/events/stream?after=0", server.url)).send().await.unwrap();
        streams.push(response.bytes_stream().eventsource());
    }
    let (status, body) = post(&client, &server.url, Some(TOKEN), activity("last-word").to_string()).await;
    assert_eq!(status, 201);
    let acknowledged = body["seq"].as_u64().unwrap();
    for stream in &mut streams {
        // Each stream delivers what was written, then stays open.
        for expected in 1..=acknowledged {
            let event = bounded(stream.next()).await.unwrap().unwrap();
            assert_eq!(event.id, expected.to_string());
        }
    }
    server.stop.send(true).unwrap();
    bounded(server.handle).await.unwrap().unwrap();
    for stream in &mut streams {
        assert!(bounded(stream.next()).await.is_none(), "the stream ended with the server");
    }
    let dir = server._dir;
    server.ledger.close().unwrap();
    let reopened = open(dir.path());
    assert_eq!(reopened.head().seq, acknowledged);
    assert_eq!(reopened.seq_of("last-word").unwrap(), Some(acknowledged));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_bounded_clean_refusals_and_the_server_keeps_serving() {
    let server = start(Some(TOKEN)).await;
    seed(&server, 3).await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let with_token = |body: Vec<u8>| client.post(format!("{url}/events")).bearer_auth(TOKEN).body(body);

    let mut invalid_utf8 = activity("bad-utf8").to_string().into_bytes();
    invalid_utf8[30] = 0xff;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let deep_object =
        format!(r#"{{"type":"x","occurred":"2022","data":{}1{}}}"#, "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("invalid UTF-8", invalid_utf8, 400),
        ("deeply nested arrays", deep, 400),
        ("deeply nested objects", deep_object.into_bytes(), 400),
        ("empty body", Vec::new(), 400),
        ("a bare number", b"12345".to_vec(), 400),
        ("a float", br#"{"type":"x","occurred":"2022","data":{"n":0.1}}"#.to_vec(), 400),
        ("too large", vec![b' '; REQUEST_BODY_BYTES_MAX + 1], 413),
        ("an empty batch", b"[]".to_vec(), 400),
    ];
    for (name, body, status) in cases {
        let response = with_token(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
    }
    // The body's content type is not trusted: only the bytes are judged.
    let response = client
        .post(format!("{url}/events"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    for path in ["/views/../verify", "/events/..%2F..%2Fetc", "//health", "/views/%00", "/subscriptions/..", "/nope"] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert!(response.status().is_client_error() || response.status().is_success(), "{path}: {}", response.status());
    }
    let bad_name =
        client.put(format!("{url}/subscriptions/a%20b")).bearer_auth(TOKEN).body(r#"{"seq":1}"#).send().await.unwrap();
    assert_eq!(bad_name.status(), 400);
    // Many idle connections do not stop the server answering.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await.unwrap());
    }
    assert_eq!(head(&client, url).await, 3, "nothing was appended, and the server still answers");
    drop(idle);
    server.stop.send(true).unwrap();
    bounded(server.handle).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_off_and_the_server_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, shutdown) = watch::channel(false);
    let mut state = AppState::new(ledger.clone(), Some(TOKEN.into()), shutdown);
    state.request_timeout = Duration::from_millis(500);
    let handle = tokio::spawn(run(listener, state));

    // Promise 1,000 bytes, send 10, then stall.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /events HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: 1000\r\n\r\n{{\"type\":\"a"
    );
    slow.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 256];
    let read = bounded(slow.read(&mut answer)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "a stalled body is refused: {answer}");

    let client = reqwest::Client::new();
    assert_eq!(head(&client, &format!("http://{address}")).await, 0, "nothing appended, still serving");
    stop.send(true).unwrap();
    bounded(handle).await.unwrap().unwrap();
}

/// Asserts the one error shape every non-2xx response has, and returns it.
async fn error_shape(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], kind, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["errors"].is_array(), "{body}");
    body
}

/// Nothing a client sends is silently ignored, every refusal has one JSON
/// shape, and a batch names every bad submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_one_json_shape_and_nothing_is_silently_ignored() {
    let server = start(Some(TOKEN)).await;
    seed(&server, 6).await;
    let hue = json!({"id": "a-hue", "type": "activity.held", "occurred": "2024",
        "data": {"category": "exchange", "title": "Huế only", "parties": ["vn/hue"]}});
    let group = vec![checked(&party("p-hue", "vn/hue", "VN")), checked(&hue)];
    server.ledger.append_group_async(group).await.unwrap();
    let client = reqwest::Client::new();
    let url = &server.url;
    let get = |path: &str| client.get(format!("{url}{path}")).send();

    // 404, 405, 413 and bad queries: JSON, with errors[].
    error_shape(bounded(get("/no/such/route")).await.unwrap(), 404, "not_found").await;
    let deleted = bounded(client.delete(format!("{url}/events")).send()).await.unwrap();
    error_shape(deleted, 405, "method_not_allowed").await;
    let huge = vec![b' '; REQUEST_BODY_BYTES_MAX + 1];
    let too_large = bounded(client.post(format!("{url}/events")).bearer_auth(TOKEN).body(huge).send()).await.unwrap();
    error_shape(too_large, 413, "too_large").await;
    let typo = error_shape(bounded(get("/views/agreements?as-of=2023-01-01")).await.unwrap(), 400, "rejected").await;
    assert!(typo["errors"][0]["rule"].as_str().unwrap().contains("as-of"), "{typo}");
    let ignored = error_shape(bounded(get("/views/aid?as_of=2023-01-01")).await.unwrap(), 400, "rejected").await;
    assert_eq!(ignored["errors"][0]["field"], "as_of", "{ignored}");
    let zero = error_shape(bounded(get("/events?limit=0")).await.unwrap(), 400, "rejected").await;
    assert_eq!(zero["errors"][0]["field"], "limit", "{zero}");
    error_shape(bounded(get("/health?verbose=1")).await.unwrap(), 400, "rejected").await;
    error_shape(bounded(get("/events/stream?partyy=vn/hue")).await.unwrap(), 400, "rejected").await;
    error_shape(bounded(get("/subscriptions/nobody")).await.unwrap(), 404, "not_found").await;
    let unauthorized = bounded(client.post(format!("{url}/events")).body("{}").send()).await.unwrap();
    error_shape(unauthorized, 401, "unauthorized").await;

    // The party filter on the page of records, as on the stream.
    let page: Value = bounded(get("/events?party=vn/hue")).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = page["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p-hue", "a-hue"], "{page}");

    // A batch with three bad submissions names all three, by index; the
    // third refers to an entity the batch's own good submission introduces.
    let batch = json!([
        {"type": "activity.held", "occurred": "2023-13", "data": {"category": "exchange", "title": "t", "parties": ["vn/hanoi"]}},
        party("p-dn", "vn/danang", "VN"),
        {"type": "activity.held", "occurred": "2023", "data": {"category": "exchange", "title": "t", "parties": ["vn/nowhere"]}},
        {"type": "activity.held", "occurred": "2023", "data": {"category": "exchange", "title": "ok", "parties": ["vn/danang"]}},
        {"type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "again", "kind": "city", "country": "VN"}},
        {"type": "activity.held", "occurred": "2023-14", "data": {"category": "exchange", "title": "t", "parties": ["vn/hanoi"]}},
    ]);
    let before = head(&client, url).await;
    let (status, body) = bounded(post(&client, url, Some(TOKEN), batch.to_string())).await;
    assert_eq!(status, 400, "{body}");
    let bad: Vec<u64> = body["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(bad, [0, 5], "every submission that does not parse is named: {body}");
    let mut decidable = batch.clone();
    decidable[0]["occurred"] = json!("2023-12");
    decidable[5]["occurred"] = json!("2023-11");
    let (status, body) = bounded(post(&client, url, Some(TOKEN), decidable.to_string())).await;
    assert_eq!(status, 400, "{body}");
    let bad: Vec<u64> = body["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(bad, [2, 4], "every refused submission is named: {body}");
    assert_eq!(head(&client, url).await, before, "nothing appended");
    let _ = server.stop.send(true);
}

/// The OpenAPI document served at /openapi.json lists exactly the routes
/// the router has (read from its source), each method included, and every
/// route it lists answers (none falls through to "no route").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let document: Value = serde_json::from_str(amity::server::OPENAPI).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = std::collections::BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let source = include_str!("../../src/server.rs");
    let mut routed = std::collections::BTreeSet::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line[".route(\"".len()..].split('"').next().unwrap().replace("{*", "{");
        for method in ["get", "post", "put", "delete", "patch"] {
            if line.contains(&format!("{method}(")) {
                routed.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(documented, routed, "docs/openapi.json and the router disagree");

    let server = start(Some(TOKEN)).await;
    seed(&server, 4).await;
    let client = reqwest::Client::new();
    for (method, path) in documented.iter().filter(|(method, _)| method == "GET") {
        let concrete = path
            .replace("{key}", "1")
            .replace("{stream}", "party:vn/hanoi")
            .replace("{view}", "aid")
            .replace("{name}", "nobody");
        let query = match concrete.as_str() {
            "/proofs/inclusion" => "?seq=1",
            "/proofs/consistency" => "?from=1",
            _ => "",
        };
        let url = format!("{}{concrete}{query}", server.url);
        if concrete == "/events/stream" {
            continue; // an open stream; the SSE tests cover it
        }
        let response = bounded(client.get(&url).send()).await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(status != 405 && !body.contains("no route"), "{method} {path}: {status} {body}");
    }
    let _ = server.stop.send(true);
}
