//! The projector: the one thread that folds records into the live views and
//! saves their checkpoints, off the acknowledgement path. It follows what
//! the syncer writes, taking new records (already typed) from the [`Tail`]
//! and reading the log only when it has fallen behind the tail. Readers see
//! which seq the views reflect and may wait for a seq (read-your-writes).
//! An import's records are folded as they are written but hidden from
//! queries ([`Views::show_up_to`]) until the import is durable; a refused
//! one is dropped by refolding from the checkpoint. A rebuild runs here
//! too, between two folds, so with writers running every record is folded
//! into the new views exactly once.
//! Must never: show a record that is not durable, save a checkpoint that
//! holds one, or block a writer.

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
    /// Drop every record folded past the durable head (a refused import's):
    /// the views are refolded from their checkpoint up to the head.
    Discard { reply: oneshot::Sender<()> },
}

pub(super) struct Projector {
    pub log: sled::Tree,
    pub checkpoints: super::checkpoint::Checkpoints,
    pub views: Arc<RwLock<Views>>,
    /// The seq the live views show (readers wait on it).
    pub views_seq: watch::Sender<u64>,
    pub head: watch::Receiver<Head>,
    /// The last seq written (past the head while an import is written).
    pub written: watch::Receiver<u64>,
    pub tail: Arc<Tail>,
    /// The seq the views have folded, shown or not.
    pub folded: u64,
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
                let written = *self.written.borrow_and_update();
                if let Err(e) = self.fold_to(written.max(durable)) {
                    tracing::error!(error = %e, "the projector stopped; views stay at seq {}", self.folded);
                    return;
                }
                self.show(durable);
                if self.folded == durable && checkpoint::checkpoint_due(self.folded, self.saved) {
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
                            self.show(durable);
                            break;
                        }
                    }
                    _ = self.written.changed() => {}
                    command = commands.recv(), if commands_open => match command {
                        Some(Command::Rebuild { progress, alone, reply }) => {
                            let _ = reply.send(self.rebuild(progress, alone));
                        }
                        Some(Command::Discard { reply }) => {
                            if let Err(e) = self.discard() {
                                tracing::error!(error = %e, "the projector could not refold the views; they stay at seq {}", self.folded);
                                return;
                            }
                            let _ = reply.send(());
                        }
                        None => commands_open = false,
                    },
                }
            }
            if self.folded == self.head.borrow().seq && self.folded != self.saved {
                self.save();
            }
        });
    }

    /// Shows the views up to the durable head (no further: what is past it
    /// is an import's, not yet durable) and tells readers.
    fn show(&mut self, durable: u64) {
        let shown = self.folded.min(durable);
        if shown != *self.views_seq.borrow() {
            self.views.write().expect("not poisoned").show_up_to(durable);
            self.views_seq.send_replace(shown);
        }
    }

    /// Drops what was folded past the durable head: reloads the views'
    /// checkpoint (never saved past the head) and folds the log up to it.
    fn discard(&mut self) -> Result<()> {
        let durable = self.head.borrow().seq;
        if self.folded <= durable {
            return Ok(());
        }
        let mut views: Views = self.checkpoints.load_or_default(&self.log)?;
        if views.seq > durable {
            views = Views::default();
        }
        checkpoint::catch_up(Some(&mut views), None, &self.log, durable, |_| {})?;
        *self.views.write().expect("not poisoned") = views;
        self.folded = durable;
        self.views_seq.send_replace(durable);
        Ok(())
    }

    /// Folds every record after the views' seq up to `to` (or up to what
    /// is still written, if a refused import is taken back meanwhile),
    /// showing readers each chunk up to the durable head.
    fn fold_to(&mut self, to: u64) -> Result<()> {
        while self.folded < to.min((*self.written.borrow()).max(self.head.borrow().seq)) {
            let from = self.folded + 1;
            let to = to.min(from + FOLD_CHUNK_RECORDS - 1);
            let (events, records) = match self.tail.get(from, to) {
                Some(records) => (Vec::new(), records),
                None => (read_events(&self.log, from, to)?, Vec::new()),
            };
            let mut views = self.views.write().expect("not poisoned");
            views.apply_all(&records, |record| (record.seq, record.event.as_ref()));
            views.apply_all(&events, |(seq, event)| (*seq, event.as_ref()));
            self.folded = views.seq;
            let durable = self.head.borrow().seq;
            views.show_up_to(durable);
            drop(views);
            self.views_seq.send_replace(self.folded.min(durable));
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
        let seq = self.folded;
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
        self.folded = durable;
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
