//! The read commands against a running server instead of a local ledger:
//! `--url URL`, or found on their own when the ledger directory is held by
//! an `amity serve` (which records its address there, see
//! [`crate::store::holder`]). Each prints exactly what the local command
//! prints, from the server's routes: `/verify`, `/views/…`, `/events`,
//! `/events/{key}`, `/export`. Must never: write to the server.

use super::read::{print, LogRow};
use super::usage;
use super::views::{self, ViewKind};
use crate::error::{Error, Result};
use crate::subscribe::Filter;
use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// A server to read from.
pub struct Remote {
    url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// A reply's status, headers and body.
struct Reply {
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl Remote {
    pub fn new(url: &str) -> Result<Remote> {
        let parsed = reqwest::Url::parse(url).map_err(|e| usage(format!("--url: `{url}` is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(usage(format!("--url: `{url}` must start with http:// or https://")));
        }
        Ok(Remote {
            url: url.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            runtime: super::serve::runtime()?,
        })
    }

    fn network(&self, error: reqwest::Error) -> Error {
        Error::network(format!("reading from {}", self.url), error)
    }

    /// GETs `path` with `query`; a refusal becomes the error it names.
    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply> {
        self.runtime.block_on(async {
            let request = self.client.get(format!("{}{path}", self.url)).query(query);
            let response = request.send().await.map_err(|e| self.network(e))?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await.map_err(|e| self.network(e))?;
            if status.is_success() {
                return Ok(Reply { headers, body });
            }
            Err(refusal(status, &body))
        })
    }

    fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let reply = self.get(path, query)?;
        serde_json::from_slice(&reply.body)
            .map_err(|e| Error::network(format!("reading from {}", self.url), format!("not JSON: {e}")))
    }

    pub fn status(&self) -> Result<crate::store::Status> {
        serde_json::from_value(self.get_json("/status", &[])?)
            .map_err(|e| Error::network(format!("reading from {}", self.url), format!("not a status: {e}")))
    }

    /// `amity history` through the server: `/streams/{stream}` pages, and
    /// the projects and agreements views at the same point.
    pub fn history(
        &self,
        key: &str,
        (as_of, at_seq, at): (Option<NaiveDate>, Option<u64>, Option<Moment>),
        format: super::format::Format,
    ) -> Result<()> {
        let entity = super::history::entity_of(key, |id| match self.get(&format!("/events/{id}"), &[]) {
            Ok(reply) => events::Record::decode(&reply.body).map(Some).map_err(|problem| {
                Error::network(format!("reading from {}", self.url), format!("not a record: {problem}"))
            }),
            Err(Error::Usage(_)) => Ok(None),
            Err(e) => Err(e),
        })?;
        // The views first: their at_seq bounds the records listed.
        let mut query = view_query(as_of, at_seq, at);
        let projects: projections::projects::ProjectsView = self.typed("/views/projects", &query)?;
        query.retain(|(name, _)| !matches!(*name, "at_seq" | "at"));
        query.push(("at_seq", projects.at_seq.to_string()));
        let agreements: projections::agreements::AgreementsView = self.typed("/views/agreements", &query)?;
        let (mut rows, mut after) = (Vec::new(), 0);
        'pages: loop {
            let page = self
                .get_json(&format!("/streams/{entity}"), &[("after", after.to_string()), ("limit", "1000".into())])?;
            for record in page["records"].as_array().into_iter().flatten() {
                let record: events::Record = serde_json::from_value(record.clone())
                    .map_err(|e| Error::network(format!("reading from {}", self.url), format!("not a record: {e}")))?;
                if record.seq > projects.at_seq {
                    break 'pages;
                }
                rows.push(LogRow { record, retracted: false });
            }
            let next = page["next_after"].as_u64().unwrap_or(after);
            if next == after || next >= projects.at_seq {
                break;
            }
            after = next;
        }
        let as_of = views::parse_day(&projects.as_of).map_err(|e| usage(format!("the server's as_of: {e}")))?;
        let rows = super::history::with_retractions(rows);
        super::history::print_history(&entity, rows, (as_of, projects.at_seq), (&projects, &agreements), format)
    }

    fn typed<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        serde_json::from_value(self.get_json(path, query)?)
            .map_err(|e| Error::network(format!("reading from {}", self.url), format!("unexpected shape: {e}")))
    }

    pub fn verify(&self) -> Result<()> {
        let verdict = self.get_json("/verify", &[])?;
        if verdict["ok"] == true {
            return print(&format!("ok {} records, head {}", verdict["count"], verdict["head"].as_str().unwrap_or("")));
        }
        let seq = verdict["seq"].as_u64().unwrap_or(0);
        let problem = verdict["problem"].as_str().unwrap_or("unknown").to_string();
        Err(Error::Chain(events::ChainError { seq, problem }))
    }

    pub fn view(
        &self,
        kind: ViewKind,
        (as_of, at_seq, at): (Option<NaiveDate>, Option<u64>, Option<Moment>),
        party: Option<&str>,
        format: super::format::Format,
    ) -> Result<()> {
        let mut query = view_query(as_of, at_seq, at);
        if let Some(party) = party {
            query.push(("party", party.to_string()));
        }
        let path = format!("/views/{}", kind.name());
        print(&views::Shown::from_json(kind, self.get_json(&path, &query)?)?.formatted(format)?)
    }

    /// Ids of every retracted record: the targets of the retractions.
    fn retracted_ids(&self) -> Result<std::collections::HashSet<String>> {
        let mut ids = std::collections::HashSet::new();
        let mut after = 0;
        loop {
            let query = [("after", after.to_string()), ("limit", "1000".into()), ("type", "event.retracted".into())];
            let page = self.get_json("/events", &query)?;
            for record in page["records"].as_array().into_iter().flatten() {
                if let Some(target) = record["data"]["target"].as_str() {
                    ids.insert(target.to_string());
                }
            }
            let next = page["next_after"].as_u64().unwrap_or(after);
            if next == after {
                return Ok(ids);
            }
            after = next;
        }
    }

    pub fn log(&self, from: u64, limit: u64, filter: &Filter, format: super::format::Format) -> Result<()> {
        let retracted = self.retracted_ids()?;
        let mut rows = Vec::new();
        let mut more_from = None;
        let mut after = from.saturating_sub(1);
        'pages: loop {
            let mut query = vec![("after", after.to_string()), ("limit", "1000".to_string())];
            if let Some(prefix) = &filter.type_prefix {
                query.push(("type", prefix.clone()));
            }
            if let Some(party) = &filter.party {
                query.push(("party", party.clone()));
            }
            let page = self.get_json("/events", &query)?;
            for record in page["records"].as_array().into_iter().flatten() {
                let bytes = serde_json::to_vec(record).expect("a Value serializes");
                let record = events::Record::decode(&bytes).map_err(|problem| {
                    Error::network(format!("reading from {}", self.url), format!("not a record: {problem}"))
                })?;
                if rows.len() as u64 == limit {
                    more_from = Some(record.seq);
                    break 'pages;
                }
                let is_retracted = retracted.contains(&record.id);
                rows.push(LogRow { record, retracted: is_retracted });
            }
            let next = page["next_after"].as_u64().unwrap_or(after);
            if next == after {
                break;
            }
            after = next;
        }
        super::read::print_log(rows, more_from, format)
    }

    pub fn show(&self, key: &str) -> Result<()> {
        let reply = self.get(&format!("/events/{key}"), &[])?;
        let value: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| Error::network(format!("reading from {}", self.url), format!("not JSON: {e}")))?;
        if reply.headers.get("amity-retracted").is_some_and(|v| v == "true") {
            let seq = value["seq"].as_u64().unwrap_or(0);
            crate::say!(
                "seq {seq} is RETRACTED: an event.retracted record names it (amity log --type event.retracted)"
            );
        }
        print(&serde_json::to_string_pretty(&value).expect("a Value always serializes"))
    }

    /// `/export` as a stream of lines, each a stored record (without its
    /// newline), checked to end where the server said it would.
    fn export_lines(&self, from: u64, to: Option<u64>, mut line: impl FnMut(Vec<u8>) -> Result<()>) -> Result<()> {
        let mut query = vec![("from", from.to_string())];
        if let Some(to) = to {
            query.push(("to", to.to_string()));
        }
        self.runtime.block_on(async {
            let request = self.client.get(format!("{}/export", self.url)).query(&query);
            let response = request.send().await.map_err(|e| self.network(e))?;
            let status = response.status();
            if !status.is_success() {
                let body = response.bytes().await.map_err(|e| self.network(e))?;
                return Err(refusal(status, &body));
            }
            let head = response.headers().get("amity-head").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let mut chunks = response.bytes_stream();
            let (mut pending, mut last_seq) = (Vec::new(), None);
            while let Some(chunk) = chunks.next().await {
                pending.extend_from_slice(&chunk.map_err(|e| self.network(e))?);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let record: Vec<u8> = pending.drain(..=end).take(end).collect();
                    last_seq = Some(events::RecordRef::decode(&record).map(|r| r.seq).unwrap_or(0));
                    line(record)?;
                }
            }
            let complete = pending.is_empty() && head.is_none_or(|head| head < from || last_seq == Some(head));
            if !complete {
                let resume = last_seq.map_or(from, |seq| seq + 1);
                return Err(Error::network(
                    format!("reading from {}", self.url),
                    format!("the export ended early; resume with --from {resume}"),
                ));
            }
            Ok(())
        })
    }

    pub fn export(&self, from: u64, to: Option<u64>) -> Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let written = self.export_lines(from, to, |record| {
            out.write_all(&record).and_then(|()| out.write_all(b"\n")).map_err(Error::from)
        });
        match written.and_then(|()| out.flush().map_err(Error::from)) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// A hot backup: every record the server holds, streamed into a new
    /// ledger at `dir` and checked link by link as [`crate::Ledger::restore`]
    /// checks an export.
    pub fn backup(&self, dir: &Path) -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Vec<u8>>>(1024);
        let target = dir.to_path_buf();
        let restoring = std::thread::spawn(move || crate::Ledger::restore(&target, receiver.into_iter()));
        let streamed = self.export_lines(1, None, |record| {
            sender.send(Ok(record)).map_err(|_| Error::Unavailable("the backup stopped".into()))
        });
        if let Err(error) = &streamed {
            let _ = sender.send(Err(Error::Unavailable(format!("the export failed: {error}"))));
        }
        drop(sender);
        let verified = restoring.join().map_err(|_| Error::Unavailable("the backup thread panicked".into()))?;
        streamed?;
        let verified = verified?;
        print(&format!("backed up to {}: ok {} records, head {}", dir.display(), verified.count, verified.head))
    }
}

/// A moment of transaction time (`--at`).
type Moment = chrono::DateTime<chrono::Utc>;

/// The query of `/views/…` for these options.
fn view_query(as_of: Option<NaiveDate>, at_seq: Option<u64>, at: Option<Moment>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(as_of) = as_of {
        query.push(("as_of", as_of.to_string()));
    }
    if let Some(at_seq) = at_seq {
        query.push(("at_seq", at_seq.to_string()));
    }
    if let Some(at) = at {
        query.push(("at", at.to_rfc3339()));
    }
    query
}

/// The error a refusal's JSON body names (its message, and each field and
/// rule), kept at the kind its status means.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> Error {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let mut message =
        value["message"].as_str().map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_string);
    for error in value["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            error["field"].as_str().unwrap_or(""),
            error["rule"].as_str().unwrap_or("")
        ));
    }
    match status.as_u16() {
        400 | 404 => Error::Usage(message),
        409 => Error::Conflict(message),
        503 => Error::Unavailable(format!("the server: {message}")),
        _ => Error::network("the server", format!("HTTP {status}: {message}")),
    }
}
