//! `amity history KEY`: everything about one entity (a project, an
//! agreement, a pledge, a party, a visit): every record that names it, in
//! order (with the retractions of those records), then its current state
//! from the views. KEY is the entity's stream (`project:ID`,
//! `party:vn/hanoi`) or the id of the event that introduced it. Locally or
//! through a server (`GET /streams/{stream}`). Must never: change the ledger.

use super::format::Format;
use super::read::{print_log, LogRow};
use super::usage;
use super::views::money_text;
use crate::error::{Error, Result};
use crate::store::Ledger;
use crate::subscribe::Filter;
use chrono::NaiveDate;
use events::known::{introduction, EntityKey, EntityKind};
use events::{EventData, EventType, Record};
use projections::agreements::{wire_name, AgreementsView};
use projections::projects::ProjectsView;

/// The stream `key` names: itself if it is `kind:id`, else the entity the
/// event with that id introduced (`record` finds an event by id).
pub fn entity_of(key: &str, record: impl FnOnce(&str) -> Result<Option<Record>>) -> Result<EntityKey> {
    if let Some(entity) = EntityKey::parse(key) {
        return Ok(entity);
    }
    let Some(record) = record(key)? else {
        return Err(usage(format!(
            "history: `{key}` is neither an entity (kind:id, e.g. party:vn/hanoi, project:ID) nor an event id"
        )));
    };
    data(&record).as_ref().and_then(introduction).map(|(entity, _)| entity).ok_or_else(|| {
        usage(format!(
            "history: event `{key}` ({}) introduces no entity; give one as kind:id (party, visit, agreement, pledge, project)",
            record.event_type
        ))
    })
}

fn data(record: &Record) -> Option<EventData> {
    let event_type = record.event_type.parse::<EventType>().ok()?;
    EventData::decode(event_type, &record.data).ok()
}

/// Keeps the retractions among `rows` only if they retract one of the
/// other rows (a stream filter lets every retraction through), and marks
/// the rows they retract: as the ledger stood at the last row.
pub fn with_retractions(rows: Vec<LogRow>) -> Vec<LogRow> {
    let ids: std::collections::HashSet<String> =
        rows.iter().filter(|r| r.record.event_type != "event.retracted").map(|r| r.record.id.clone()).collect();
    let mut targets = std::collections::HashSet::new();
    let mut kept: Vec<LogRow> = rows
        .into_iter()
        .filter(|row| match data(&row.record) {
            Some(EventData::EventRetracted(d)) if ids.contains(d.target.as_str()) => {
                targets.insert(d.target);
                true
            }
            Some(EventData::EventRetracted(_)) => false,
            _ => true,
        })
        .collect();
    for row in &mut kept {
        row.retracted = targets.contains(row.record.id.as_str());
    }
    kept
}

/// Prints the records, then the entity's current state.
pub fn print_history(
    entity: &EntityKey,
    rows: Vec<LogRow>,
    (as_of, at_seq): (NaiveDate, u64),
    (projects, agreements): (&ProjectsView, &AgreementsView),
    format: Format,
) -> Result<()> {
    if rows.is_empty() {
        return Err(usage(format!("history: no record names `{entity}`")));
    }
    match format {
        Format::Table => {}
        Format::Json => {
            let records: Vec<serde_json::Value> =
                rows.iter().map(|r| serde_json::to_value(&r.record).expect("a record serializes")).collect();
            let retracted: Vec<&str> = rows.iter().filter(|r| r.retracted).map(|r| r.record.id.as_str()).collect();
            let state = state(entity, &rows, as_of, projects, agreements);
            let body = serde_json::json!({"entity": entity.to_string(), "as_of": as_of.to_string(), "at_seq": at_seq,
                "records": records, "retracted": retracted, "state": state});
            return super::read::print(&serde_json::to_string_pretty(&body).expect("a Value serializes"));
        }
        Format::Ndjson | Format::Csv => return super::read::print(&super::read::rows_as(&rows, format)?),
    }
    super::read::print(&format!("History of {entity} (ledger at seq {at_seq}): {} records", rows.len()))?;
    let state = state(entity, &rows, as_of, projects, agreements);
    print_log(rows, None, Format::Table)?;
    super::read::print(&format!("\nCurrent state as of {as_of} (ledger at seq {at_seq}):"))?;
    super::read::print(&state.iter().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n"))
}

/// What the views (and the entity's own records) say of it now.
fn state(
    entity: &EntityKey,
    rows: &[LogRow],
    as_of: NaiveDate,
    projects: &ProjectsView,
    agreements: &AgreementsView,
) -> Vec<String> {
    let live: Vec<&LogRow> = rows.iter().filter(|r| !r.retracted).collect();
    let introduced = live.iter().find_map(|row| {
        let (key, _) = introduction(&data(&row.record)?)?;
        (key == *entity).then_some(row.record.seq)
    });
    let mut lines = vec![match introduced {
        Some(seq) => format!("introduced by seq {seq}; named by {} records in force", live.len()),
        None => format!("named by {} records in force; no record in force introduces it", live.len()),
    }];
    let id = entity.id.as_str();
    match entity.kind {
        EntityKind::Project => match projects.projects.iter().find(|p| p.project == id) {
            Some(p) => {
                let percent = p.percent.map_or("no percentage".to_string(), |p| format!("{p}%"));
                let status = p.status.as_ref().map_or("no status".to_string(), wire_name);
                let money = |amounts: &[projections::projects::Amount]| {
                    let texts: Vec<String> = amounts
                        .iter()
                        .map(|a| {
                            money_text(&events::data::MoneyData {
                                amount: a.amount.as_str().into(),
                                currency: a.currency.as_str().into(),
                            })
                        })
                        .collect();
                    if texts.is_empty() {
                        "none".to_string()
                    } else {
                        texts.join(", ")
                    }
                };
                lines.push(format!("outstanding: {} for {}; {percent}, {status}", p.name, p.beneficiary));
                lines.push(format!("last report: {}", p.last_report.as_deref().unwrap_or("none")));
                lines.push(format!("pledged: {}; delivered: {}", money(&p.pledged), money(&p.delivered)));
            }
            None => lines.push(format!("not outstanding as of {as_of} (completed, retracted, or not yet launched)")),
        },
        EntityKind::Agreement => match agreements.agreements.iter().find(|a| a.agreement == id) {
            Some(a) => lines.push(format!(
                "in force as of {as_of}: {} ({}, {}), parties {}; signed {}, effective {}",
                a.title,
                wire_name(&a.kind),
                wire_name(&a.level),
                a.parties.join(", "),
                a.signed,
                a.effective
            )),
            None => {
                lines.push(format!("not in force as of {as_of} (terminated, expired, not yet effective, or retracted)"))
            }
        },
        EntityKind::Party => {
            let registered = live.iter().find_map(|row| match data(&row.record) {
                Some(EventData::PartyRegistered(d)) if d.party == id => Some(d),
                _ => None,
            });
            if let Some(d) = registered {
                let within = d.within.map(|w| format!(", within {w}")).unwrap_or_default();
                lines.push(format!("{} ({}), {}{within}", d.name_en.unwrap_or(d.name), wire_name(&d.kind), d.country));
            }
        }
        EntityKind::Pledge | EntityKind::Visit => {}
    }
    if let Some(last) = live.last() {
        lines.push(format!(
            "last record: seq {} ({}, occurred {})",
            last.record.seq, last.record.event_type, last.record.occurred
        ));
    }
    lines
}

/// `amity history` on a local ledger.
pub fn history(ledger: &Ledger, key: &str, (as_of, at_seq): (NaiveDate, Option<u64>), format: Format) -> Result<()> {
    let entity = entity_of(key, |id| match ledger.seq_of(id)? {
        Some(seq) => ledger.get(seq),
        None => Ok(None),
    })?;
    let upto = at_seq.unwrap_or(u64::MAX).min(ledger.head().seq);
    let rows = records_naming(ledger, &entity.to_string(), upto)?;
    let (projects, agreements) =
        ledger.read_views(|views| (views.projects(as_of, Some(upto)), views.agreements(as_of, Some(upto))));
    print_history(&entity, rows, (as_of, projects.at_seq), (&projects, &agreements), format)
}

/// Every record up to `upto` that names `stream` (`project:ID`), in order,
/// with the retractions of those records and the rows they retract marked
/// ([`with_retractions`]). One scan of the log; `amity history` and the
/// dashboard's entity pages both read an entity this way.
pub fn records_naming(ledger: &Ledger, stream: &str, upto: u64) -> Result<Vec<LogRow>> {
    let filter = Filter { stream: Some(stream.to_string()), ..Filter::default() };
    let mut rows = Vec::new();
    for entry in ledger.range_bytes(1, upto) {
        let (seq, bytes) = entry?;
        if filter.matches(&bytes) {
            let record = Record::decode(&bytes).map_err(|problem| Error::Chain(events::ChainError { seq, problem }))?;
            rows.push(LogRow { record, retracted: false });
        }
    }
    Ok(with_retractions(rows))
}
