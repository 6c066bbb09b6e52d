//! The auditor's read commands: `export`, `log`, `show`, `verify`. Must
//! never: change the ledger.

use super::format::Format;
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

/// One row of `amity log`.
pub struct LogRow {
    pub record: Record,
    pub retracted: bool,
}

/// `amity log`: a readable table of the records from `from` that pass
/// `filter`, at most `limit`; says on stderr when more follow, and marks
/// retracted records.
pub fn log(ledger: &Ledger, from: u64, limit: u64, filter: &crate::subscribe::Filter, format: Format) -> Result<()> {
    let mut rows = Vec::new();
    let mut more_from = None;
    for entry in ledger.range_bytes(from.max(1), ledger.head().seq) {
        let (seq, bytes) = entry?;
        if !filter.matches(&bytes) {
            continue;
        }
        if rows.len() as u64 == limit {
            more_from = Some(seq);
            break;
        }
        let record = Record::decode(&bytes).map_err(|problem| Error::Chain(events::ChainError { seq, problem }))?;
        rows.push(LogRow { record, retracted: ledger.is_retracted(seq) });
    }
    print_log(rows, more_from, format)
}

/// Rows as a program reads them: JSON (an array of the records), NDJSON
/// (a record a line, exactly as stored) or CSV (the table's columns and
/// whether each record was retracted).
pub fn rows_as(rows: &[LogRow], format: Format) -> Result<String> {
    let stored = |row: &LogRow| String::from_utf8_lossy(&row.record.canonical_bytes()).into_owned();
    Ok(match format {
        Format::Table => unreachable!("tables are printed by print_log"),
        Format::Json => format!("[{}]", rows.iter().map(stored).collect::<Vec<_>>().join(",\n")),
        Format::Ndjson => rows.iter().map(stored).collect::<Vec<_>>().join("\n"),
        Format::Csv => {
            let csv_rows: Vec<super::format::Row> = rows
                .iter()
                .map(|LogRow { record, retracted }| {
                    vec![
                        ("seq".into(), record.seq.into()),
                        ("occurred".into(), record.occurred.clone().into()),
                        ("type".into(), record.event_type.clone().into()),
                        ("id".into(), record.id.clone().into()),
                        ("retracted".into(), (*retracted).into()),
                        ("summary".into(), summary(record).into()),
                    ]
                })
                .collect();
            super::format::csv(&csv_rows)?
        }
    })
}

/// Prints `log`'s table; `more_from` is the next matching seq not shown.
pub fn print_log(rows: Vec<LogRow>, more_from: Option<u64>, format: Format) -> Result<()> {
    if format != Format::Table {
        if !rows.is_empty() {
            print(&rows_as(&rows, format)?)?;
        }
        if let Some(next) = more_from {
            crate::say!("… {} shown; more records follow: amity log --from {next} (or a larger --limit)", rows.len());
        }
        return Ok(());
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut lines = vec![format!("{:>6}  {:<21}  {:<20}  {:<36}  SUMMARY", "SEQ", "OCCURRED", "TYPE", "ID")];
    let shown = rows.len();
    let width = super::views::width().map(usize::from);
    for LogRow { record, retracted } in rows {
        let retracted = if retracted { "[RETRACTED] " } else { "" };
        lines.push(format!(
            "{:>6}  {:<21}  {:<20}  {:<36}  {retracted}{}",
            record.seq,
            record.occurred,
            record.event_type,
            record.id,
            summary(&record)
        ));
    }
    for line in lines {
        // On a terminal (or with COLUMNS), each line is cut to its width.
        let line = match width {
            Some(width) if line.chars().count() > width => {
                line.chars().take(width.saturating_sub(1)).chain(['…']).collect::<String>()
            }
            _ => line,
        };
        if let Err(e) = writeln!(out, "{line}") {
            return write_out(Err(e));
        }
    }
    write_out(out.flush())?;
    if let Some(next) = more_from {
        crate::say!("… {shown} shown; more records follow: amity log --from {next} (or a larger --limit)");
    }
    Ok(())
}

/// One line a reader can scan: who, what, to whom.
fn summary(record: &Record) -> String {
    let Some(data) = record.event_type.parse::<EventType>().ok().and_then(|t| EventData::decode(t, &record.data).ok())
    else {
        return String::from("(undecodable data)");
    };
    let money = |amount: &Option<events::data::MoneyData>| {
        amount.as_ref().map(|m| format!(" {}", super::views::money_text(m))).unwrap_or_default()
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
        EventData::ActivityHeld(d) => d.title.into(),
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
    if ledger.is_retracted(seq) {
        crate::say!("seq {seq} is RETRACTED: an event.retracted record names it (amity log --type event.retracted)");
    }
    print(&serde_json::to_string_pretty(&value).expect("a Value always serializes"))
}

/// `amity status`, as aligned lines (or the JSON of `GET /status`).
pub fn status(status: &crate::store::Status, json: bool) -> Result<()> {
    if json {
        return print(&serde_json::to_string_pretty(status).expect("a status serializes"));
    }
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64);
    let held = match &status.holder {
        Some(holder) => format!("held by {}", holder.describe()),
        None => "not held by any process".to_string(),
    };
    let recorded = match (&status.first_recorded_at, &status.last_recorded_at) {
        (Some(first), Some(last)) => format!(", recorded {first} … {last}"),
        _ => String::new(),
    };
    let types: Vec<String> = status.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let checkpoint = status.views_checkpoint_seq.map_or("none".to_string(), |seq| format!("at seq {seq}"));
    let free = status.free_bytes.map_or("unknown".to_string(), mib);
    print(&format!(
        "ledger    {} ({held})\nhead      seq {}, hash {}\nrecords   {}{recorded}\nby type   {}\nviews     at seq {}; checkpoint {checkpoint}\ndisk      {} used, {free} free",
        status.dir,
        status.seq,
        status.head,
        status.seq,
        if types.is_empty() { "—".to_string() } else { types.join(", ") },
        status.views_seq,
        mib(status.disk_bytes),
    ))
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
