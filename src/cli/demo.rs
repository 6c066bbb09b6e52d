//! `amity demo`: the Hanoi–Vientiane history (five Vietnamese news articles,
//! encoded in `data/hanoi-vientiane.ndjson` and built into the binary),
//! imported idempotently into the ledger, verified, and shown as the four
//! views. Must never: append anything but that file's submissions.

use super::import::{import, Imported, Source};
use super::read::print;
use super::views::{agreements_table, aid_tables, projects_table, today, visits_table};
use crate::error::Result;
use crate::store::{Ledger, Options};
use std::path::Path;

/// The history, as writer submissions, one per line.
pub const HANOI_VIENTIANE: &str = include_str!("../../data/hanoi-vientiane.ndjson");

/// A day the sources describe in detail: Hanoi's delegation arrived in
/// Vientiane on 22 November 2023.
const SHOWCASE_DAY: &str = "2023-11-22";

pub fn run(dir: &Path) -> Result<()> {
    let ledger = Ledger::open(dir, Options::default())?;
    let Imported { appended, existed } = import(&ledger, Source::Bytes(HANOI_VIENTIANE.as_bytes()))?;
    let imported = format!(
        "Hanoi–Vientiane history in {}: {appended} records appended, {existed} already present.",
        dir.display()
    );
    let verified = ledger.verify(|_| {})?;
    let verified = format!("Chain verified: ok {} records, head {}", verified.count, verified.head);
    let today = today();
    let showcase = events::date::parse_day(SHOWCASE_DAY).expect("a valid day");
    let text = ledger.read_views(|views| {
        [
            agreements_table(&views.agreements(today, None)),
            agreements_table(&views.agreements(showcase, None)),
            projects_table(&views.projects(today, None)),
            aid_tables(&views.aid(None)),
            visits_table(&views.visits(None)),
        ]
        .join("\n\n")
    });
    ledger.close()?;
    print(&format!("{imported}\n{verified}\n\n{text}"))
}
