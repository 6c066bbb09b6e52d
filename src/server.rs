//! The HTTP API (axum): writes behind a bearer token, reads and views for
//! anyone who can reach it, and Server-Sent Events for subscribers. `app`
//! builds the router apart from `run`, so tests bind port 0. Must never:
//! accept a write without the token, or keep a stream open after shutdown.
//!
//! | route | what |
//! |---|---|
//! | `POST /events` | one submission or a JSON array (all-or-nothing); token |
//! | `GET /events?after&limit&type&party` | a page of stored records |
//! | `GET /events/stream?after&type&party` | SSE; honours `Last-Event-ID` |
//! | `GET /events/{id or seq}` | one stored record (`Amity-Retracted: true` if it was retracted) |
//! | `GET /streams/{kind:id}?after&limit` | a page of the records naming one entity (its history) |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document (`docs/openapi.json`) |
//! | `GET /export?from&to` | stored records as NDJSON, streamed (a hot export; resume with `from`) |
//! | `GET /views/{agreements,projects,aid,visits}?as_of&at_seq` | the spec's views |
//! | `GET /verify`, `GET /health`, `GET /status` | chain check; head and uptime; what `amity status` prints |
//! | `PUT/GET /subscriptions/{name}` | a named subscription's position; PUT needs the token |
//! | `GET /checkpoint`, `GET /checkpoint/key` | the latest signed checkpoint with its cosignatures; its verifier key (with a signing key) |
//! | `POST /checkpoint/cosignatures` | a witness's cosigned copy of the latest checkpoint |
//! | `GET /proofs/inclusion?seq&size`, `GET /proofs/consistency?from&to` | Merkle proofs, CT's JSON shapes |
//!
//! Every non-2xx response is `{"error", "message", "errors": [{"field", "rule"}]}`
//! ([`one_error_shape`]); every query is parsed strictly ([`Params`]).

use crate::error::Error;
use crate::store::{Ledger, BATCH_SUBMISSIONS_MAX};
use crate::subscribe::Filter;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

/// Largest request body: a batch of submissions.
pub const REQUEST_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Most submissions in one `POST /events` batch.
pub const POST_BATCH_SUBMISSIONS_MAX: usize = BATCH_SUBMISSIONS_MAX;
/// Most records in one `GET /events` page.
pub const PAGE_RECORDS_MAX: u64 = 1000;
/// Most records one `GET /events` request scans looking for matches, so a
/// rare filter cannot make one request read the whole log.
pub const PAGE_SCAN_RECORDS_MAX: u64 = 10_000;
/// Most SSE streams open at once; more get 503.
pub const STREAMS_MAX: usize = 256;
/// How long a non-streaming request may take, body included.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Interval of SSE keep-alive comments.
pub const KEEP_ALIVE_MS: u64 = 15_000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    /// The write token; `None` refuses every write.
    pub token: Option<Arc<str>>,
    pub started: Instant,
    /// Permits for open SSE streams.
    pub streams: Arc<Semaphore>,
    /// Turns true when the server shuts down; open streams then end.
    pub shutdown: watch::Receiver<bool>,
    /// How long a non-streaming request may take, body included
    /// ([`REQUEST_TIMEOUT_MS`] unless a test shortens it).
    pub request_timeout: Duration,
    /// Signed checkpoints, when the server has a signing key.
    pub checkpoints: Option<Arc<Checkpoints>>,
}

/// The server's signing key, the latest checkpoint it signed, and the
/// witnesses' cosignatures of it.
pub struct Checkpoints {
    key: crate::signing::Key,
    /// (tree size, signed note), once one is signed.
    latest: watch::Sender<Option<(u64, Arc<str>)>>,
    /// The witnesses' cosignatures of the latest checkpoint.
    cosignatures: std::sync::Mutex<Cosignatures>,
}

/// Cosignature lines (`— name base64`) of one checkpoint note text, by
/// witness key (name, id): (that text, the lines).
type Cosignatures = (Vec<u8>, std::collections::BTreeMap<(String, u32), Vec<u8>>);

/// Most witnesses whose cosignatures are kept.
pub const WITNESSES_MAX: usize = 16;

/// A new checkpoint is signed at most this often as the tree grows.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

impl Checkpoints {
    pub fn new(key: crate::signing::Key) -> Arc<Checkpoints> {
        Arc::new(Checkpoints { key, latest: watch::channel(None).0, cosignatures: Default::default() })
    }

    /// The latest signed checkpoint's tree size.
    fn size(&self) -> Option<u64> {
        self.latest.borrow().as_ref().map(|(size, _)| *size)
    }

    /// Signs the durable head now if it is not the latest checkpoint.
    fn sign_head(&self, ledger: &Ledger) -> crate::error::Result<()> {
        let size = ledger.head().seq;
        if self.size() == Some(size) {
            return Ok(());
        }
        let note = self.key.sign(size, ledger.tree_hash(size)?)?;
        self.latest.send_replace(Some((size, Arc::from(note))));
        Ok(())
    }

    /// Signs a checkpoint whenever the tree has grown, at most once per
    /// [`CHECKPOINT_INTERVAL`], until `shutdown`.
    pub async fn run(self: Arc<Self>, ledger: Ledger, mut shutdown: watch::Receiver<bool>) {
        let mut head = ledger.watch_head();
        loop {
            let signed = {
                let (this, ledger) = (Arc::clone(&self), ledger.clone());
                tokio::task::spawn_blocking(move || this.sign_head(&ledger)).await
            };
            match signed {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not sign a checkpoint"),
                Err(error) => tracing::warn!(%error, "the checkpoint signer failed"),
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                changed = head.changed() => if changed.is_err() { return },
            }
        }
    }
}

impl AppState {
    pub fn new(ledger: Ledger, token: Option<String>, shutdown: watch::Receiver<bool>) -> AppState {
        AppState {
            ledger,
            token: token.map(Arc::from),
            started: Instant::now(),
            streams: Arc::new(Semaphore::new(STREAMS_MAX)),
            shutdown,
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
            checkpoints: None,
        }
    }

    /// Serves signed checkpoints made with `checkpoints`' key.
    pub fn with_checkpoints(mut self, checkpoints: Arc<Checkpoints>) -> AppState {
        self.checkpoints = Some(checkpoints);
        self
    }
}

pub fn app(state: AppState) -> Router {
    let timed = Router::new()
        .route("/events", post(post_events).get(get_events))
        .route("/views/{view}", get(get_view))
        .route("/verify", get(get_verify))
        .route("/health", get(get_health))
        .route("/status", get(get_status))
        .route("/checkpoint", get(get_checkpoint))
        .route("/checkpoint/key", get(get_checkpoint_key))
        .route("/checkpoint/cosignatures", post(post_cosignature))
        .route("/proofs/inclusion", get(get_inclusion))
        .route("/proofs/consistency", get(get_consistency))
        .route("/subscriptions/{name}", get(get_subscription).put(put_subscription))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.request_timeout));
    Router::new()
        .route("/events/stream", get(stream_events))
        .route("/export", get(get_export))
        .route("/events/{key}", get(get_event))
        .route("/streams/{*stream}", get(get_stream))
        .route("/openapi.json", get(get_openapi))
        .route("/", get(crate::web::overview))
        .route("/records/{key}", get(crate::web::record))
        .route("/aid", get(crate::web::aid_records))
        .route("/assets/{name}", get(crate::web::asset))
        .merge(timed)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(axum::middleware::map_response(one_error_shape))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// Serves until `shutdown` turns true, then ends open streams, waits for
/// requests in flight, and returns. The caller closes the ledger.
pub async fn run(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let mut shutdown = state.shutdown.clone();
    // TCP_NODELAY on every connection: with Nagle's algorithm on, an SSE
    // frame written while the previous one is unacknowledged waits for the
    // client's delayed ACK (up to 40 ms on Linux); measured on `--bench http`,
    // SSE delivery p99 18–21 ms with it, see BENCHMARKS.md.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// A query string parsed strictly: an unknown parameter (a typo such as
/// `as-of`) or a value of the wrong form is a 400 that names it, never
/// silently ignored.
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Response> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map(Params).map_err(|e| query_error("query", e.to_string()))
    }
}

/// The query of a route that takes no parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// A 400 naming a query parameter and the rule it broke.
fn query_error(field: &str, rule: impl Into<String>) -> Response {
    error_response(&Error::Invalid(events::Rejection::one(field, rule)), None)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let body = json!({"error": "not_found", "message": format!("no route {}", uri.path()), "errors": []});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    let body = json!({"error": "method_not_allowed", "message": message, "errors": []});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Every non-2xx response leaves in one shape, `{"error": kind, "message",
/// "errors": [{"field", "rule"}]}`, whichever layer made it: axum's own
/// rejections (a body over the limit is 413 text) and the timeout layer's
/// empty 408 are rewritten here; JSON bodies without `errors` get an empty
/// list. Headers (such as `Allow`) are kept.
async fn one_error_shape(response: Response) -> Response {
    let status = response.status();
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return response;
    }
    // The dashboard's own pages refuse in HTML, for people.
    let html = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut value = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
            let kind = match status {
                StatusCode::BAD_REQUEST => "rejected",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                _ if status.is_client_error() => "rejected",
                _ => "internal",
            };
            json!({"error": kind, "message": message})
        }
    };
    if value.get("errors").is_none() {
        value["errors"] = json!([]);
    }
    let body = serde_json::to_vec(&value).expect("a Value serializes");
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// A refused submission or batch: the first failure's status and kind, and
/// in `errors` every broken rule of every refused submission, each with the
/// 0-based `index` of its submission (`index` at the top names the first).
fn group_error_response(group: &crate::store::GroupError) -> Response {
    let response = error_response(&group.error, Some(group.index));
    if group.also.is_empty() && !matches!(group.error, Error::Invalid(_)) {
        return response;
    }
    let failures = std::iter::once((group.index, &group.error)).chain(group.also.iter().map(|(i, e)| (*i, e)));
    let mut errors = Vec::new();
    for (index, error) in failures {
        match error {
            Error::Invalid(rejection) => errors
                .extend(rejection.errors.iter().map(|e| json!({"index": index, "field": e.field, "rule": e.rule}))),
            other => errors.push(json!({"index": index, "field": "submission", "rule": other.to_string()})),
        }
    }
    let status = response.status();
    let mut body = json!({"error": if status == StatusCode::CONFLICT { "conflict" } else { "rejected" },
        "message": group.error.to_string(), "index": group.index, "errors": errors});
    if !group.also.is_empty() {
        body["message"] = json!(format!("{} submissions were refused; nothing was appended", group.also.len() + 1));
    }
    (status, axum::Json(body)).into_response()
}

/// A JSON error body: `{"error": kind, "message": text, "errors": [...]}`.
fn error_response(error: &Error, index: Option<usize>) -> Response {
    let (status, kind) = match error {
        Error::Invalid(_) | Error::Usage(_) => (StatusCode::BAD_REQUEST, "rejected"),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        Error::Chain(_) | Error::Storage { .. } | Error::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        Error::NoSpace(_) => (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"),
        Error::Network { .. } => (StatusCode::BAD_GATEWAY, "network"),
        Error::Interrupted(_) | Error::InUse { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let mut body = json!({"error": kind, "message": error.to_string(), "errors": []});
    if let Error::Invalid(rejection) = error {
        body["errors"] = serde_json::to_value(&rejection.errors).expect("field errors serialize");
    }
    if let Some(index) = index {
        body["index"] = json!(index);
    }
    (status, axum::Json(body)).into_response()
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": "unauthorized", "message": message}))).into_response()
}

/// Checks `Authorization: Bearer <token>` in constant time; the refusal
/// to send when it does not hold.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.token else {
        return Some(refuse(StatusCode::FORBIDDEN, "writes are disabled: the server has no token configured"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let matches: bool = subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), token.as_bytes()).into();
    if matches && !presented.is_empty() {
        None
    } else {
        Some(refuse(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer <token>` header is required"))
    }
}

/// Stored records as a JSON array, byte for byte as stored.
fn records_json<B: AsRef<[u8]>>(records: impl IntoIterator<Item = B>) -> String {
    let mut out = String::from("[");
    for (i, bytes) in records.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&String::from_utf8_lossy(bytes.as_ref()));
    }
    out.push(']');
    out
}

fn json_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn post_events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refusal(&state, &headers) {
        return refusal;
    }
    let submissions = match events::Checked::parse_many(&body, REQUEST_BODY_BYTES_MAX, POST_BATCH_SUBMISSIONS_MAX) {
        Ok(submissions) => submissions,
        Err(rejections) => {
            let mut failures = rejections.into_iter().map(|(index, rejection)| (index, Error::Invalid(rejection)));
            let (index, error) = failures.next().expect("at least one");
            return group_error_response(&crate::store::GroupError { index, error, also: failures.collect() });
        }
    };
    let batch = body.trim_ascii_start().starts_with(b"[");
    match state.ledger.append_group_async(submissions).await {
        Err(e) => group_error_response(&e),
        Ok(appended) => {
            // The sealed bytes, exactly as stored: nothing is serialized again.
            let status = if appended.iter().all(|a| a.existed) { StatusCode::OK } else { StatusCode::CREATED };
            if batch {
                json_text(status, records_json(appended.iter().map(|a| &a.bytes[..])))
            } else {
                json_text(status, String::from_utf8_lossy(&appended[0].bytes).into_owned())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u64>,
    #[serde(rename = "type")]
    type_prefix: Option<String>,
    party: Option<String>,
}

async fn get_events(State(state): State<AppState>, Params(query): Params<PageQuery>) -> Response {
    let filter = Filter { type_prefix: query.type_prefix, party: query.party, stream: None };
    page(&state, query.after, query.limit, filter).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamPageQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u64>,
}

/// A page of the records that name one stream (an entity, `kind:id`), as
/// `GET /events` pages them.
async fn get_stream(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    query: Result<Params<StreamPageQuery>, Response>,
) -> Response {
    // A browser's plain visit gets the entity's page; a request with paging
    // parameters (`after`, `limit`) always gets the JSON page it asks for.
    if crate::web::wants_html(&headers) && uri.query().is_none_or(str::is_empty) {
        return crate::web::stream_page(state, stream).await;
    }
    let Params(query) = match query {
        Ok(query) => query,
        Err(refusal) => return refusal,
    };
    if events::EntityKey::parse(&stream).is_none() {
        return query_error("stream", "must be an entity as kind:id (party, visit, agreement, pledge, project)");
    }
    page(&state, query.after, query.limit, Filter { stream: Some(stream), ..Filter::default() }).await
}

/// Up to `limit` (default 100) records after `after` that pass `filter`,
/// scanning at most [`PAGE_SCAN_RECORDS_MAX`]; `next_after` is where the
/// next page starts.
async fn page(state: &AppState, after: u64, limit: Option<u64>, filter: Filter) -> Response {
    let limit = limit.unwrap_or(100);
    if !(1..=PAGE_RECORDS_MAX).contains(&limit) {
        return query_error("limit", format!("must be 1 to {PAGE_RECORDS_MAX}"));
    }
    let ledger = state.ledger.clone();
    let page = tokio::task::spawn_blocking(move || -> crate::Result<(Vec<Vec<u8>>, u64)> {
        let head = ledger.head().seq;
        let scan_to = head.min(after.saturating_add(PAGE_SCAN_RECORDS_MAX));
        let mut records = Vec::new();
        let mut next_after = after;
        for entry in ledger.range_bytes(after + 1, scan_to) {
            let (seq, bytes) = entry?;
            next_after = seq;
            if filter.matches(&bytes) {
                records.push(bytes);
                if records.len() as u64 == limit {
                    break;
                }
            }
        }
        Ok((records, next_after))
    })
    .await;
    match page {
        Ok(Ok((records, next_after))) => {
            json_text(StatusCode::OK, format!("{{\"next_after\":{next_after},\"records\":{}}}", records_json(records)))
        }
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}

/// The API's OpenAPI 3.1 document (`docs/openapi.json`; a test checks it
/// against this router's routes).
pub const OPENAPI: &str = include_str!("../docs/openapi.json");

async fn get_openapi(_: Params<NoParams>) -> Response {
    json_text(StatusCode::OK, OPENAPI.to_string())
}

/// One stored record, by event id or seq (a bare number is a seq), exactly
/// as stored.
async fn get_event(State(state): State<AppState>, Path(key): Path<String>, _: Params<NoParams>) -> Response {
    let ledger = state.ledger.clone();
    let found = tokio::task::spawn_blocking(move || -> crate::Result<Option<(u64, Vec<u8>)>> {
        let seq = match key.parse::<u64>() {
            Ok(seq) => Some(seq),
            Err(_) => ledger.seq_of(&key)?,
        };
        let Some(seq) = seq else { return Ok(None) };
        Ok(ledger.get_bytes(seq)?.map(|bytes| (seq, bytes)))
    })
    .await;
    match found {
        Ok(Ok(Some((seq, bytes)))) => {
            let retracted = if state.ledger.is_retracted(seq) { "true" } else { "false" };
            let headers = [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("amity-retracted"), retracted),
            ];
            (headers, bytes).into_response()
        }
        Ok(Ok(None)) => {
            let body = json!({"error": "not_found", "message": "no such event id or seq", "errors": []});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// Records read per blocking step of an export.
const EXPORT_CHUNK_RECORDS: u64 = 1000;

/// Stored records `from..=to` (default: all durable ones when the request
/// came) as NDJSON, byte for byte, streamed in chunks read off the
/// runtime's workers; `Amity-Head` says the last seq the export holds. A
/// client that loses the connection resumes with `from` = its last seq + 1.
async fn get_export(State(state): State<AppState>, Params(query): Params<ExportQuery>) -> Response {
    let head = state.ledger.head().seq;
    let (from, to) = (query.from.unwrap_or(1).max(1), query.to.unwrap_or(head).min(head));
    let ledger = state.ledger.clone();
    let chunks = async_stream::stream! {
        let mut next = from;
        while next <= to {
            let end = to.min(next + EXPORT_CHUNK_RECORDS - 1);
            let reader = ledger.clone();
            let chunk = tokio::task::spawn_blocking(move || -> crate::Result<Vec<u8>> {
                let mut out = Vec::new();
                for entry in reader.range_bytes(next, end) {
                    out.extend_from_slice(&entry?.1);
                    out.push(b'\n');
                }
                Ok(out)
            })
            .await;
            match chunk {
                Ok(Ok(bytes)) => yield Ok::<_, std::io::Error>(Bytes::from(bytes)),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "an export stopped");
                    yield Err(std::io::Error::other(error.to_string()));
                    break;
                }
                Err(error) => {
                    yield Err(std::io::Error::other(error.to_string()));
                    break;
                }
            }
            next = end + 1;
        }
    };
    let head_seq = to.max(from.saturating_sub(1)).to_string();
    let headers = [
        (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
        (header::HeaderName::from_static("amity-head"), head_seq),
    ];
    (headers, axum::body::Body::from_stream(chunks)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    #[serde(default)]
    after: u64,
    #[serde(rename = "type")]
    type_prefix: Option<String>,
    party: Option<String>,
}

async fn stream_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<StreamQuery>,
) -> Response {
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        let body = json!({"error": "busy", "message": format!("at most {STREAMS_MAX} streams may be open")});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    };
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim);
    let after = match last_event_id.map(str::parse::<u64>) {
        None => query.after,
        Some(Ok(seq)) => seq,
        Some(Err(_)) => {
            let error = Error::Usage("Last-Event-ID: must be the seq of the last record received".into());
            return error_response(&error, None);
        }
    };
    let filter = Filter { type_prefix: query.type_prefix, party: query.party, stream: None };
    tracing::info!(after, ?filter, "subscriber connected");
    let mut shutdown = state.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let records = state.ledger.subscribe(after, filter).take_until(stopped);
    // Each record's frame is rendered once and shared by every subscriber
    // (axum's `Sse` would format an `Event` per subscriber per record).
    let frames = async_stream::stream! {
        let _held = permit;
        futures::pin_mut!(records);
        let mut keep_alive = tokio::time::interval(Duration::from_millis(KEEP_ALIVE_MS));
        keep_alive.tick().await;
        loop {
            tokio::select! {
                delivered = records.next() => match delivered {
                    Some(Ok(record)) => yield Ok::<_, std::convert::Infallible>(record.sse_frame()),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "subscription ended by an error");
                        break;
                    }
                    None => break,
                },
                _ = keep_alive.tick() => yield Ok(Bytes::from_static(b":\n\n")),
            }
        }
        tracing::info!("subscriber disconnected");
    };
    let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    (headers, axum::body::Body::from_stream(frames)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    as_of: Option<String>,
    at_seq: Option<u64>,
    /// Transaction time by the clock (RFC 3339): as the ledger stood then.
    at: Option<String>,
    /// Only the rows this party is in (see `amity view --party`).
    party: Option<String>,
}

async fn get_view(
    State(state): State<AppState>,
    Path(view): Path<String>,
    Params(query): Params<ViewQuery>,
) -> Response {
    if matches!(view.as_str(), "aid" | "visits") && query.as_of.is_some() {
        // Aid totals and the visit timeline list every dated fact; valid
        // time does not filter them, so an `as_of` would be ignored.
        return query_error(
            "as_of",
            format!("does not apply to the {view} view (it lists every dated fact; use at_seq)"),
        );
    }
    let as_of = match query.as_of.as_deref().map(events::date::parse_day) {
        None => chrono::Utc::now().date_naive(),
        Some(Ok(day)) => day,
        Some(Err(e)) => return query_error("as_of", e.to_string()),
    };
    let at_seq = match (query.at_seq, query.at.as_deref().map(events::date::parse_moment)) {
        (Some(_), Some(_)) => return query_error("at", "give at or at_seq, not both"),
        (at_seq, None) => at_seq,
        (None, Some(Err(e))) => return query_error("at", e),
        (None, Some(Ok(moment))) => {
            let ledger = state.ledger.clone();
            match tokio::task::spawn_blocking(move || ledger.seq_at(moment)).await {
                Ok(Ok(seq)) => Some(seq),
                Ok(Err(e)) => return error_response(&e, None),
                Err(e) => return error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
            }
        }
    };
    // Read-your-writes: the views reflect every record durable when the
    // request came; the query itself runs off the runtime's workers.
    state.ledger.views_reflect(state.ledger.head().seq).await;
    let (ledger, party) = (state.ledger.clone(), query.party);
    let body = tokio::task::spawn_blocking(move || {
        let kind = <crate::cli::views::ViewKind as clap::ValueEnum>::from_str(&view, false).ok()?;
        Some(ledger.read_views(|views| crate::cli::views::Shown::of(views, kind, (as_of, at_seq), party.as_deref())))
    })
    .await;
    match body {
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
        Ok(Some(body)) => axum::Json(body).into_response(),
        Ok(None) => {
            let body = json!({"error": "not_found", "message": "views are agreements, projects, aid and visits"});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
    }
}

async fn get_verify(State(state): State<AppState>, _: Params<NoParams>) -> Response {
    let ledger = state.ledger.clone();
    match tokio::task::spawn_blocking(move || ledger.verify(|_| {})).await {
        Ok(Ok(verified)) => {
            axum::Json(json!({"ok": true, "count": verified.count, "head": verified.head})).into_response()
        }
        Ok(Err(Error::Chain(e))) => {
            axum::Json(json!({"ok": false, "seq": e.seq, "problem": e.problem})).into_response()
        }
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}

async fn get_health(State(state): State<AppState>, _: Params<NoParams>) -> Response {
    let head = state.ledger.head();
    let failure = state.ledger.failure();
    axum::Json(json!({"seq": head.seq, "head": head.hash, "views_seq": state.ledger.views_seq(),
        "ok": failure.is_none(), "failure": failure, "uptime_s": state.started.elapsed().as_secs()}))
    .into_response()
}

async fn get_status(State(state): State<AppState>, _: Params<NoParams>) -> Response {
    let ledger = state.ledger.clone();
    match tokio::task::spawn_blocking(move || ledger.status()).await {
        Ok(Ok(status)) => axum::Json(status).into_response(),
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    seq: u64,
}

async fn put_subscription(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refusal(&state, &headers) {
        return refusal;
    }
    let ack: Ack = match serde_json::from_slice(&body) {
        Ok(ack) => ack,
        Err(e) => return error_response(&Error::Usage(format!("body: must be {{\"seq\": N}} ({e})")), None),
    };
    let ledger = state.ledger.clone();
    let stored = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || ledger.ack(&name, ack.seq)).await
    };
    match stored {
        Ok(Ok(())) => axum::Json(json!({"name": name, "seq": ack.seq})).into_response(),
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}

async fn get_subscription(State(state): State<AppState>, Path(name): Path<String>, _: Params<NoParams>) -> Response {
    match state.ledger.position(&name) {
        Ok(Some(seq)) => axum::Json(json!({"name": name, "seq": seq})).into_response(),
        Ok(None) => {
            let body = json!({"error": "not_found", "message": format!("no subscription named `{name}`")});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
        Err(e) => error_response(&e, None),
    }
}

fn no_key() -> Response {
    let body = json!({"error": "not_found",
        "message": "this server signs no checkpoints: start it with a signing key (`amity key generate`, then `amity serve --key FILE`)"});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn text_plain(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The latest signed checkpoint (C2SP tlog-checkpoint in a signed note),
/// with the witnesses' cosignatures of it.
async fn get_checkpoint(State(state): State<AppState>, _: Params<NoParams>) -> Response {
    let Some(checkpoints) = &state.checkpoints else { return no_key() };
    let latest = checkpoints.latest.borrow().clone();
    let Some((_, note)) = latest else {
        return error_response(&Error::Unavailable("no checkpoint signed yet".into()), None);
    };
    let mut served = note.to_string();
    let cosignatures = checkpoints.cosignatures.lock().unwrap_or_else(|p| p.into_inner());
    if note.as_bytes().starts_with(&cosignatures.0) && !cosignatures.0.is_empty() {
        for line in cosignatures.1.values() {
            served.push_str(&String::from_utf8_lossy(line));
        }
    }
    text_plain(served)
}

/// A witness's cosigned copy of the latest checkpoint: its signature lines
/// (other than the server's own) are kept and served with the checkpoint.
/// The witnesses' keys are not the server's to trust: clients verify the
/// cosignatures with the witness keys they know.
async fn post_cosignature(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(checkpoints) = &state.checkpoints else { return no_key() };
    let bad = |message: String| error_response(&Error::Usage(message), None);
    let Ok(note) = signed_note::Note::from_bytes(&body) else {
        return bad("body: not a signed note".into());
    };
    let Ok(own) = signed_note::StandardVerifier::new(checkpoints.key.verifier()) else {
        return error_response(&Error::Unavailable("the server's own key does not load".into()), None);
    };
    let known = signed_note::VerifierList::new(vec![Box::new(own)]);
    let others = match note.verify(&known) {
        Ok((_, others)) => others,
        Err(e) => return bad(format!("body: not the server's checkpoint: {e:?}")),
    };
    let latest = checkpoints.latest.borrow().clone();
    let Some((_, latest)) = latest else {
        return error_response(&Error::Unavailable("no checkpoint signed yet".into()), None);
    };
    let text = note.text().to_vec();
    if !latest.as_bytes().starts_with(&text) {
        let body =
            json!({"error": "conflict", "message": "the checkpoint moved on; cosign the latest (GET /checkpoint)"});
        return (StatusCode::CONFLICT, axum::Json(body)).into_response();
    }
    let mut cosignatures = checkpoints.cosignatures.lock().unwrap_or_else(|p| p.into_inner());
    if cosignatures.0 != text {
        *cosignatures = (text, Default::default());
    }
    for signature in others {
        let key = (signature.name().to_string(), signature.id());
        if cosignatures.1.len() < WITNESSES_MAX || cosignatures.1.contains_key(&key) {
            cosignatures.1.insert(key, signature.to_bytes());
        }
    }
    axum::Json(json!({"cosignatures": cosignatures.1.len()})).into_response()
}

/// The verifier key of the checkpoints (`name+hash+base64`).
async fn get_checkpoint_key(State(state): State<AppState>, _: Params<NoParams>) -> Response {
    let Some(checkpoints) = &state.checkpoints else { return no_key() };
    text_plain(format!("{}\n", checkpoints.key.verifier()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// The tree size a proof defaults to: the latest signed checkpoint's, else
/// the durable head.
fn default_size(state: &AppState) -> u64 {
    state.checkpoints.as_ref().and_then(|c| c.size()).unwrap_or_else(|| state.ledger.head().seq)
}

/// Certificate Transparency's inclusion proof shape.
async fn get_inclusion(State(state): State<AppState>, Params(query): Params<InclusionQuery>) -> Response {
    let InclusionQuery { seq, size } = query;
    let size = size.unwrap_or_else(|| default_size(&state));
    proof(&state, move |ledger| Ok(events::merkle::inclusion_json(seq, size, &ledger.prove_inclusion(seq, size)?)))
        .await
}

/// Certificate Transparency's consistency proof shape.
async fn get_consistency(State(state): State<AppState>, Params(query): Params<ConsistencyQuery>) -> Response {
    let ConsistencyQuery { from, to } = query;
    let to = to.unwrap_or_else(|| default_size(&state));
    proof(&state, move |ledger| Ok(events::merkle::consistency_json(from, to, &ledger.prove_consistency(from, to)?)))
        .await
}

/// Makes a proof (reads of the tree's file) off the runtime's workers.
async fn proof(
    state: &AppState,
    prove: impl FnOnce(&Ledger) -> crate::error::Result<serde_json::Value> + Send + 'static,
) -> Response {
    let ledger = state.ledger.clone();
    match tokio::task::spawn_blocking(move || prove(&ledger)).await {
        Ok(Ok(body)) => axum::Json(body).into_response(),
        Ok(Err(e)) => error_response(&e, None),
        Err(e) => error_response(&Error::Unavailable(format!("a blocking task failed: {e}")), None),
    }
}
