//! The projector: the one thread that folds records into the live views and
//! saves their checkpoints, off the acknowledgement path. It follows the
//! durable head, taking new records (already typed) from the [`Tail`] and
//! reading the log only when it has fallen behind the tail. Readers see
//! which seq the views reflect and may wait for a seq (read-your-writes).
//! A rebuild runs here too, between two folds, so with writers running every
//! record is folded into the new views exactly once.
//! Must never: fold a record that is not durable, or block a writer.

use super::checkpoint;
use super::tail::Tail;
use super::{log_seq, sled_error, Head};
use crate::error::Result;
use events::{ChainError, RecordRef};
use projections::{Event, Views};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot, watch};

/// Most records folded under one hold of the views' write lock, so readers
/// never wait long.
const FOLD_CHUNK_RECORDS: u64 = 1024;

/// What the projector can be asked to do besides following the head.
pub(super) enum Command {
    /// Drop the views and their checkpoint and refold the whole log up to
    /// the durable head; reply with how many records were folded.
    /// With `alone`, nobody reads the views meanwhile, so the old ones are
    /// dropped first and memory holds one set of views, not two.
    Rebuild { progress: Box<dyn FnMut(u64) + Send>, alone: bool, reply: oneshot::Sender<Result<u64>> },
}

pub(super) struct Projector {
    pub log: sled::Tree,
    pub checkpoints: super::checkpoint::Checkpoints,
    pub views: Arc<RwLock<Views>>,
    /// The seq the live views reflect.
    pub views_seq: watch::Sender<u64>,
    pub head: watch::Receiver<Head>,
    pub tail: Arc<Tail>,
    /// The seq the stored views checkpoint reflects.
    pub saved: u64,
}

impl Projector {
    pub fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
        runtime.block_on(async {
            let mut commands_open = true;
            loop {
                let durable = self.head.borrow_and_update().seq;
                if let Err(e) = self.fold_to(durable) {
                    tracing::error!(error = %e, "the projector stopped; views stay at seq {}", self.seq());
                    return;
                }
                if checkpoint::checkpoint_due(self.seq(), self.saved) {
                    self.save();
                }
                tokio::select! {
                    changed = self.head.changed() => {
                        if changed.is_err() {
                            // The write path has stopped: fold what it made durable, then end.
                            let durable = self.head.borrow().seq;
                            if let Err(e) = self.fold_to(durable) {
                                tracing::error!(error = %e, "the projector could not fold the last records");
                            }
                            break;
                        }
                    }
                    command = commands.recv(), if commands_open => match command {
                        Some(Command::Rebuild { progress, alone, reply }) => {
                            let _ = reply.send(self.rebuild(progress, alone));
                        }
                        None => commands_open = false,
                    },
                }
            }
            if self.seq() != self.saved {
                self.save();
            }
        });
    }

    fn seq(&self) -> u64 {
        *self.views_seq.borrow()
    }

    /// Folds every record after the views' seq up to `durable`.
    fn fold_to(&mut self, durable: u64) -> Result<()> {
        while self.seq() < durable {
            let from = self.seq() + 1;
            let to = durable.min(from + FOLD_CHUNK_RECORDS - 1);
            match self.tail.get(from, to) {
                Some(records) => {
                    let mut views = self.views.write().expect("not poisoned");
                    for record in &records {
                        views.apply_decoded(record.seq, record.event.as_ref());
                    }
                }
                None => {
                    let events = read_events(&self.log, from, to)?;
                    let mut views = self.views.write().expect("not poisoned");
                    for (seq, event) in &events {
                        views.apply_decoded(*seq, event.as_ref());
                    }
                }
            }
            self.views_seq.send_replace(to);
        }
        Ok(())
    }

    /// A failed save only costs a longer catch-up on the next open.
    fn save(&mut self) {
        if let Err(e) = self.try_save() {
            tracing::warn!(error = %e, "could not save the views checkpoint");
        }
    }

    fn try_save(&mut self) -> Result<()> {
        let seq = self.seq();
        let hash = hash_at(&self.log, seq)?;
        let views = self.views.read().expect("not poisoned");
        self.checkpoints.save(&*views, &hash)?;
        drop(views);
        self.saved = seq;
        Ok(())
    }

    fn rebuild(&mut self, progress: Box<dyn FnMut(u64) + Send>, alone: bool) -> Result<u64> {
        let durable = self.head.borrow().seq;
        self.checkpoints.remove::<Views>()?;
        self.saved = 0;
        if alone {
            *self.views.write().expect("not poisoned") = Views::default();
        }
        let mut fresh = Views::default();
        checkpoint::catch_up(Some(&mut fresh), None, &self.log, durable, progress)?;
        *self.views.write().expect("not poisoned") = fresh;
        self.views_seq.send_replace(durable);
        // `amity rebuild` promises a saved checkpoint: say so if it is not.
        self.try_save()?;
        Ok(durable)
    }
}

/// The hash of the record at `seq` (64 zeros for 0).
pub(super) fn hash_at(log: &sled::Tree, seq: u64) -> Result<String> {
    if seq == 0 {
        return Ok(events::GENESIS_PREV.to_string());
    }
    let bytes = log
        .get(seq.to_be_bytes())
        .map_err(|e| sled_error(format!("reading seq {seq}"), e))?
        .ok_or_else(|| ChainError { seq, problem: "missing".into() })?;
    let record = RecordRef::decode(&bytes).map_err(|problem| ChainError { seq, problem })?;
    Ok(record.hash.into_owned())
}

/// Records `from..=to` from the log, decoded for the fold.
fn read_events(log: &sled::Tree, from: u64, to: u64) -> Result<Vec<(u64, Option<Event>)>> {
    let mut events = Vec::with_capacity((to - from + 1) as usize);
    for entry in log.range(from.to_be_bytes()..=to.to_be_bytes()) {
        let (key, value) = entry.map_err(|e| sled_error(format!("reading the log from seq {from}"), e))?;
        let seq = log_seq(&key)?;
        events.push(Event::from_stored(&value).map_err(|problem| ChainError { seq, problem })?);
    }
    if events.len() as u64 != to - from + 1 {
        return Err(ChainError { seq: from, problem: format!("the log lacks records up to seq {to}") }.into());
    }
    Ok(events)
}
