//! The auditor's read commands: `export`, `log`, `show`, `verify`. Must
//! never: change the ledger.

use super::usage;
use crate::error::{Error, Result};
use crate::store::Ledger;
use events::{EventData, EventType, Record};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufWriter, Write};

/// Longest summary column in `log`, in characters.
const SUMMARY_CHARS_MAX: usize = 72;

/// Writes to stdout, treating a closed pipe (`amity export | head`) as done.
fn write_out(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints text and a newline to stdout (a closed pipe is not an error).
pub fn print(text: &str) -> Result<()> {
    write_out(writeln!(std::io::stdout(), "{text}"))
}

pub fn export(ledger: &Ledger, from: u64, to: Option<u64>) -> Result<()> {
    let to = to.unwrap_or(ledger.head().seq);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for entry in ledger.range_bytes(from.max(1), to) {
        let (_, bytes) = entry?;
        if let Err(e) = out.write_all(&bytes).and_then(|()| out.write_all(b"\n")) {
            return write_out(Err(e));
        }
    }
    write_out(out.flush())
}

pub fn log(ledger: &Ledger, from: u64, limit: u64, type_prefix: Option<&str>) -> Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut lines = vec![format!("{:>6}  {:<21}  {:<20}  {:<36}  SUMMARY", "SEQ", "OCCURRED", "TYPE", "ID")];
    let mut shown = 0;
    for record in ledger.range(from.max(1), u64::MAX) {
        let record = record?;
        if type_prefix.is_some_and(|p| !record.event_type.starts_with(p)) {
            continue;
        }
        if shown == limit {
            break;
        }
        shown += 1;
        lines.push(format!(
            "{:>6}  {:<21}  {:<20}  {:<36}  {}",
            record.seq,
            record.occurred,
            record.event_type,
            record.id,
            summary(&record)
        ));
    }
    for line in lines {
        if let Err(e) = writeln!(out, "{line}") {
            return write_out(Err(e));
        }
    }
    write_out(out.flush())
}

/// One line a reader can scan: who, what, to whom.
fn summary(record: &Record) -> String {
    let Some(data) = record.event_type.parse::<EventType>().ok().and_then(|t| EventData::decode(t, &record.data).ok())
    else {
        return String::from("(undecodable data)");
    };
    let money = |amount: &Option<events::data::MoneyData>| {
        amount.as_ref().map(|m| format!(" {} {}", m.currency, m.amount)).unwrap_or_default()
    };
    let text = match data {
        EventData::PartyRegistered(d) => format!("{} — {}", d.party, d.name_en.unwrap_or(d.name)),
        EventData::VisitHeld(d) => {
            format!("{} → {}, led by {}", d.delegation_of, d.host, d.led_by.name)
        }
        EventData::AgreementSigned(d) => format!("{} ({})", d.title, d.parties.join(", ")),
        EventData::AgreementAmended(d) => format!("{} amended", d.agreement),
        EventData::AgreementTerminated(d) => format!("{} terminated", d.agreement),
        EventData::AidPledged(d) => format!("{} → {}{}: {}", d.donor, d.recipient, money(&d.amount), d.purpose),
        EventData::AidDelivered(d) => format!("{} → {}{}: {}", d.donor, d.recipient, money(&d.amount), d.purpose),
        EventData::ProjectLaunched(d) => format!("{} for {}", d.name, d.beneficiary),
        EventData::ProjectProgress(d) => {
            let percent = d.percent.map(|p| format!(" {p}%")).unwrap_or_default();
            format!("{}{percent} {:?}", d.project, d.status)
        }
        EventData::ProjectCompleted(d) => format!("{} completed", d.project),
        EventData::AwardConferred(d) => format!("{} from {} to {}", d.award, d.by, d.to),
        EventData::ActivityHeld(d) => d.title,
        EventData::EventRetracted(d) => format!("retracts {}: {}", d.target, d.reason),
    };
    let text = text.replace('\n', " ");
    if text.chars().count() > SUMMARY_CHARS_MAX {
        text.chars().take(SUMMARY_CHARS_MAX - 1).chain(['…']).collect()
    } else {
        text
    }
}

pub fn show(ledger: &Ledger, key: &str) -> Result<()> {
    let seq = match key.parse::<u64>() {
        Ok(seq) => seq,
        Err(_) => ledger.seq_of(key)?.ok_or_else(|| usage(format!("no event with id `{key}`")))?,
    };
    let bytes = ledger.get_bytes(seq)?.ok_or_else(|| usage(format!("no record at seq {seq}")))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::Chain(events::ChainError { seq, problem: e.to_string() }))?;
    print(&serde_json::to_string_pretty(&value).expect("a Value always serializes"))
}

pub fn verify(ledger: &Ledger) -> Result<()> {
    let bar = progress_bar(ledger.head().seq, "verifying");
    let verified = ledger.verify(|seq| {
        if seq % 4096 == 0 {
            bar.set_position(seq);
        }
    });
    bar.finish_and_clear();
    let verified = verified?;
    print(&format!("ok {} records, head {}", verified.count, verified.head))
}

/// A progress bar on a terminal's stderr; hidden when stderr is not one.
pub fn progress_bar(total: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta})").expect("a valid template"),
    );
    bar.set_message(message);
    bar
}
