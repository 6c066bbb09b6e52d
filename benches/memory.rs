//! Memory per record (issue 12): how many heap bytes the ledger's two
//! in-memory folds keep for each record, the knowledge (what `decide` asks)
//! and the views (every fact, for any `as_of`/`at_seq`), and how large their
//! checkpoints are. Live bytes are counted by a wrapping allocator, so the
//! figures are exact and repeatable, not RSS estimates.
//!
//! `cargo bench --bench memory -- [--records N]` (default 1,000,000).

use events::append::{decide, Decision, Sealer};
use events::generate::History;
use events::knowledge::Knowledge;
use events::{Checked, RecordRef};
use projections::{Event, Views};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;
use support::arg;

mod support;

/// mimalloc, as the binary uses, with a count of live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let records = arg("--records", 1_000_000);
    println!("memory per record, {records} generated records");

    // The knowledge, grown as the committer grows it; the sealed records
    // kept (outside the count) for the views.
    let started = Instant::now();
    let mut history = History::new(2026);
    let mut sealer = Sealer::default();
    let mut sealed_records: Vec<Vec<u8>> = Vec::with_capacity(records as usize);
    let mut knowledge = Knowledge::default();
    let mut knowledge_bytes = 0;
    for _ in 0..records {
        let submission = serde_json::to_vec(&history.next_submission()).unwrap();
        let checked = Checked::parse(&submission).unwrap();
        let Decision::New(admitted) = decide(&knowledge, checked) else { panic!("generated submissions are new") };
        let id = admitted.checked().id().map_or_else(|| format!("gen-{}", sealer.next_seq()), str::to_string);
        let sealed = sealer.seal(admitted.checked(), &id, "2026-11-22T10:45:50.123456Z");
        let (checked, effects) = (*admitted).into_parts();
        let key = events::knowledge::id_key(&id);
        let before = live();
        knowledge.absorb(sealed.seq, key, checked.event_type(), checked.content_digest(), &effects);
        knowledge_bytes += live() - before;
        sealed_records.push(sealed.bytes().to_vec());
    }
    let knowledge_checkpoint = postcard::to_stdvec(&knowledge).unwrap().len();
    println!("generated and absorbed in {:.1} s", started.elapsed().as_secs_f64());
    drop(knowledge);

    let before = live();
    let mut views = Views::default();
    for bytes in &sealed_records {
        views.apply_event(&Event::from_record(&RecordRef::decode(bytes).unwrap()).unwrap());
    }
    let views_bytes = live() - before;
    let views_checkpoint = postcard::to_stdvec(&views).unwrap().len();
    let stored: usize = sealed_records.iter().map(|r| r.len() + 1).sum();

    let per = |bytes: f64| bytes / records as f64;
    println!("{:<28} {:>14} {:>12} {:>12}", "", "bytes", "per record", "% of record");
    let row = |name: &str, bytes: f64| {
        println!("{name:<28} {bytes:>14.0} {:>12.1} {:>11.1}%", per(bytes), 100.0 * bytes / stored as f64);
    };
    row("records as stored (NDJSON)", stored as f64);
    row("knowledge, live heap", knowledge_bytes as f64);
    row("knowledge checkpoint", knowledge_checkpoint as f64);
    row("views, live heap", views_bytes as f64);
    row("views checkpoint", views_checkpoint as f64);
}
