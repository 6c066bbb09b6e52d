//! `amity witness`: an independent party that follows a ledger's signed
//! checkpoints and cosigns each one only after checking it. It keeps its own
//! copy of every leaf hash (32 bytes per record, `STATE/leaves`), fetched
//! from the ledger's records, so it recomputes each checkpoint's root itself:
//! a checkpoint whose root is not the records' is refused, a tree smaller
//! than one it cosigned is a rollback, and one that rewrites a record it saw
//! is a fork, named by the first seq where the logs differ. The cosignature
//! is an Ed25519 note signature by the witness's own key, added to the
//! checkpoint and sent to the server, which serves it beside its own.
//! Must never: cosign a checkpoint it did not recompute.

use crate::error::{Error, Result};
use crate::signing::Key;
use events::merkle::{record_hash, Frontier, Hash};
use serde_json::value::RawValue;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What a witness remembers between rounds.
pub struct Witness {
    url: String,
    log_verifier: String,
    key: Key,
    state: PathBuf,
    leaves: Vec<Hash>,
    /// The tree of `leaves`, extended round by round (never refolded).
    frontier: Frontier,
    client: reqwest::Client,
}

fn chain(seq: u64, problem: String) -> Error {
    Error::Chain(events::ChainError { seq, problem })
}

#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

impl Witness {
    pub fn open(url: &str, log_verifier: &str, key: Key, state: &Path) -> Result<Witness> {
        std::fs::create_dir_all(state).map_err(|e| Error::io(format!("creating {}", state.display()), e))?;
        let bytes = match std::fs::read(state.join("leaves")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("reading the witness's leaves", e)),
        };
        let leaves: Vec<Hash> = bytes.chunks_exact(32).map(|c| Hash(c.try_into().expect("32 bytes"))).collect();
        let mut frontier = Frontier::default();
        for leaf in &leaves {
            frontier.push_leaf(*leaf);
        }
        Ok(Witness {
            frontier,
            url: url.trim_end_matches('/').to_string(),
            log_verifier: log_verifier.to_string(),
            key,
            state: state.to_path_buf(),
            leaves,
            client: reqwest::Client::new(),
        })
    }

    async fn get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.url);
        let response = self.client.get(&url).send().await.map_err(|e| Error::network(format!("GET {url}"), e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::network(format!("GET {url}"), e))?;
        if !status.is_success() {
            return Err(Error::network(format!("GET {url}"), format!("{status}: {text}")));
        }
        Ok(text)
    }

    /// The leaf hashes of records `from..=to`, read from the ledger.
    async fn fetch_leaves(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        let mut leaves = Vec::new();
        let mut after = from - 1;
        while after < to {
            let text = self.get(&format!("/events?after={after}&limit=1000")).await?;
            let page: Page =
                serde_json::from_str(&text).map_err(|e| chain(after + 1, format!("a page of records: {e}")))?;
            if page.records.is_empty() {
                return Err(chain(after + 1, "the ledger serves no record here".into()));
            }
            for record in page.records {
                if after == to {
                    break;
                }
                leaves.push(record_hash(record.get().as_bytes()));
                after += 1;
            }
        }
        Ok(leaves)
    }

    /// One round: fetch the latest checkpoint, check it, cosign it. Returns
    /// the tree size cosigned.
    pub async fn round(&mut self) -> Result<u64> {
        let note_text = self.get("/checkpoint").await?;
        let verifier = signed_note::StandardVerifier::new(&self.log_verifier)
            .map_err(|e| Error::Usage(format!("key: not a note verifier key: {e:?}")))?;
        let log_name = signed_note::Verifier::name(&verifier).to_string();
        let note = signed_note::Note::from_bytes(note_text.as_bytes())
            .map_err(|e| chain(0, format!("the checkpoint is not a signed note: {e:?}")))?;
        let known = signed_note::VerifierList::new(vec![Box::new(verifier)]);
        note.verify(&known).map_err(|e| chain(0, format!("the checkpoint is not signed by {log_name}: {e:?}")))?;
        let checkpoint = tlog_tiles::Checkpoint::from_bytes(note.text())
            .map_err(|_| chain(0, "the signed text is not a tlog checkpoint".into()))?;
        let (size, root) = (checkpoint.size(), *checkpoint.hash());
        let seen = self.leaves.len() as u64;
        if size < seen {
            return Err(chain(
                size + 1,
                format!(
                    "rollback: the checkpoint has {size} records, but this witness cosigned {seen}; refusing to cosign"
                ),
            ));
        }
        let new = if size > seen { self.fetch_leaves(seen + 1, size).await? } else { Vec::new() };
        let mut frontier = self.frontier.clone();
        for leaf in &new {
            frontier.push_leaf(*leaf);
        }
        if frontier.root() != root {
            // Either the ledger rewrote a record this witness saw (a fork),
            // or its checkpoint is not its records' root. Find out which.
            let served = self.fetch_leaves(1, size).await?;
            if let Some(at) = self.leaves.iter().zip(&served).position(|(saw, now)| saw != now) {
                return Err(chain(
                    at as u64 + 1,
                    format!(
                        "fork: the log differs from the one this witness cosigned first at seq {}; refusing to cosign",
                        at + 1
                    ),
                ));
            }
            return Err(chain(
                size,
                format!("the checkpoint's root {root} is not the root of the ledger's records; refusing to cosign"),
            ));
        }
        // Durable before cosigning: never cosign what it could forget.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join("leaves"))
            .map_err(|e| Error::io("writing the witness's leaves", e))?;
        let bytes: Vec<u8> = new.iter().flat_map(|h| h.0).collect();
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("writing the witness's leaves", e))?;
        self.leaves.extend(new);
        self.frontier = frontier;
        let cosigned = self.key.cosign(&note_text)?;
        std::fs::write(self.state.join("checkpoint"), &cosigned).map_err(|e| Error::io("saving the checkpoint", e))?;
        let url = format!("{}/checkpoint/cosignatures", self.url);
        let response =
            self.client.post(&url).body(cosigned).send().await.map_err(|e| Error::network(format!("POST {url}"), e))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(Error::network(format!("POST {url}"), format!("{status}: {text}")));
        }
        Ok(size)
    }
}

/// Runs rounds every [`WITNESS_INTERVAL`] (or one, with `once`) until
/// SIGINT/SIGTERM; stops at the first refusal (a fork, a rollback, a bad
/// checkpoint), which it reports as the error.
pub async fn run(mut witness: Witness, once: bool) -> Result<()> {
    let mut last = None;
    loop {
        match witness.round().await {
            Ok(size) if last != Some(size) => {
                crate::say!("amity witness: cosigned the checkpoint of {size} records");
                last = Some(size);
            }
            Ok(_) => {}
            Err(error @ Error::Network { .. }) if !once => crate::say!("amity witness: {error}; retrying"),
            Err(error) => return Err(error),
        }
        if once {
            return Ok(());
        }
        tokio::select! {
            _ = crate::cli::wait_for_signal() => return Ok(()),
            _ = tokio::time::sleep(WITNESS_INTERVAL) => {}
        }
    }
}

/// How often a running witness asks for a new checkpoint.
pub const WITNESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
