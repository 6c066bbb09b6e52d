//! The vocabulary: one typed payload per event type, as section 3 of the spec
//! lists them. Every struct rejects unknown fields, so a typo in a field name
//! is an error rather than a silently dropped fact. Dates, money and ids stay
//! strings here; [`crate::submission`] checks their rules and names the field.
//!
//! Beyond the spec's table, every payload may carry an optional `note` (free
//! text), so that an event built on an inference can say so. The spec allows
//! adding optional fields in v1.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The event types of section 3, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    PartyRegistered,
    VisitHeld,
    AgreementSigned,
    AgreementAmended,
    AgreementTerminated,
    AidPledged,
    AidDelivered,
    ProjectLaunched,
    ProjectProgress,
    ProjectCompleted,
    AwardConferred,
    ActivityHeld,
    EventRetracted,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::PartyRegistered,
        EventType::VisitHeld,
        EventType::AgreementSigned,
        EventType::AgreementAmended,
        EventType::AgreementTerminated,
        EventType::AidPledged,
        EventType::AidDelivered,
        EventType::ProjectLaunched,
        EventType::ProjectProgress,
        EventType::ProjectCompleted,
        EventType::AwardConferred,
        EventType::ActivityHeld,
        EventType::EventRetracted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PartyRegistered => "party.registered",
            EventType::VisitHeld => "visit.held",
            EventType::AgreementSigned => "agreement.signed",
            EventType::AgreementAmended => "agreement.amended",
            EventType::AgreementTerminated => "agreement.terminated",
            EventType::AidPledged => "aid.pledged",
            EventType::AidDelivered => "aid.delivered",
            EventType::ProjectLaunched => "project.launched",
            EventType::ProjectProgress => "project.progress",
            EventType::ProjectCompleted => "project.completed",
            EventType::AwardConferred => "award.conferred",
            EventType::ActivityHeld => "activity.held",
            EventType::EventRetracted => "event.retracted",
        }
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(text: &str) -> Result<EventType, String> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| format!("`{text}` is not an event type (see section 3 of the spec)"))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person: people are not parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<CompactString>,
}

/// A person who signed for a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signatory {
    pub name: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<CompactString>,
    pub party: CompactString,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyData {
    pub amount: CompactString,
    pub currency: CompactString,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub item: CompactString,
    pub quantity: i64,
    pub unit: CompactString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Country,
    City,
    Province,
    Body,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitLevel {
    State,
    High,
    City,
    Department,
    People,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    Treaty,
    Agreement,
    Mou,
    Minutes,
    Plan,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementLevel {
    National,
    City,
    Department,
    Organization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressStatus {
    OnTrack,
    Delayed,
    Suspended,
    Reviewed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityCategory {
    TradeFair,
    Exhibition,
    Scholarship,
    Training,
    Exchange,
    Forum,
    Gift,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRegistered {
    pub party: CompactString,
    pub name: CompactString,
    #[serde(default)]
    pub name_en: Option<CompactString>,
    pub kind: PartyKind,
    pub country: CompactString,
    #[serde(default)]
    pub within: Option<CompactString>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitHeld {
    pub visit: CompactString,
    pub delegation_of: CompactString,
    pub host: CompactString,
    pub led_by: Person,
    #[serde(default)]
    pub members: Option<Vec<Person>>,
    #[serde(default)]
    pub counterparts: Option<Vec<Person>>,
    #[serde(default)]
    pub place: Option<CompactString>,
    #[serde(default)]
    pub purpose: Option<CompactString>,
    #[serde(default)]
    pub level: Option<VisitLevel>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSigned {
    pub agreement: CompactString,
    pub title: CompactString,
    pub kind: AgreementKind,
    pub level: AgreementLevel,
    pub parties: Vec<CompactString>,
    #[serde(default)]
    pub signatories: Option<Vec<Signatory>>,
    pub effective: CompactString,
    #[serde(default)]
    pub fields: Option<Vec<CompactString>>,
    /// The clauses of this one document between named parties (spec
    /// section 3): not agreements of their own.
    #[serde(default)]
    pub provisions: Option<Vec<Provision>>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

/// One provision of a signed document: what it covers and between whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    pub subject: CompactString,
    pub parties: Vec<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementAmended {
    pub agreement: CompactString,
    #[serde(default)]
    pub effective: Option<CompactString>,
    #[serde(default)]
    pub title: Option<CompactString>,
    #[serde(default)]
    pub fields: Option<Vec<CompactString>>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementTerminated {
    pub agreement: CompactString,
    #[serde(default)]
    pub reason: Option<CompactString>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidPledged {
    pub pledge: CompactString,
    pub donor: CompactString,
    pub recipient: CompactString,
    #[serde(default)]
    pub amount: Option<MoneyData>,
    #[serde(default)]
    pub items: Option<Vec<Item>>,
    pub purpose: CompactString,
    #[serde(default)]
    pub project: Option<CompactString>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidDelivered {
    pub donor: CompactString,
    pub recipient: CompactString,
    #[serde(default)]
    pub amount: Option<MoneyData>,
    #[serde(default)]
    pub items: Option<Vec<Item>>,
    pub purpose: CompactString,
    #[serde(default)]
    pub pledge: Option<CompactString>,
    #[serde(default)]
    pub project: Option<CompactString>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectLaunched {
    pub project: CompactString,
    pub name: CompactString,
    pub beneficiary: CompactString,
    pub funders: Vec<CompactString>,
    #[serde(default)]
    pub pledge: Option<CompactString>,
    #[serde(default)]
    pub planned_completion: Option<CompactString>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectProgress {
    pub project: CompactString,
    #[serde(default)]
    pub percent: Option<i64>,
    pub status: ProgressStatus,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectCompleted {
    pub project: CompactString,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwardConferred {
    pub award: CompactString,
    #[serde(default)]
    pub class: Option<CompactString>,
    pub by: CompactString,
    pub to: CompactString,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityHeld {
    pub category: ActivityCategory,
    pub title: CompactString,
    pub parties: Vec<CompactString>,
    #[serde(default)]
    pub figures: Option<BTreeMap<CompactString, i64>>,
    #[serde(default)]
    pub note: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRetracted {
    pub target: CompactString,
    pub reason: CompactString,
    #[serde(default)]
    pub note: Option<CompactString>,
}

/// A record's `data`, typed by its `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    PartyRegistered(PartyRegistered),
    VisitHeld(VisitHeld),
    AgreementSigned(AgreementSigned),
    AgreementAmended(AgreementAmended),
    AgreementTerminated(AgreementTerminated),
    AidPledged(AidPledged),
    AidDelivered(AidDelivered),
    ProjectLaunched(ProjectLaunched),
    ProjectProgress(ProjectProgress),
    ProjectCompleted(ProjectCompleted),
    AwardConferred(AwardConferred),
    ActivityHeld(ActivityHeld),
    EventRetracted(EventRetracted),
}

impl EventData {
    /// Decodes `data` for `kind`. The error names the field by its path
    /// (`data.led_by.name`) and says what serde found wrong with it.
    pub fn decode(kind: EventType, data: &serde_json::Value) -> Result<EventData, crate::FieldError> {
        decode_at(kind, data).map_err(|(steps, rule)| crate::FieldError::new(path_text(&steps), rule))
    }

    /// Every problem a payload that does not decode has, as far as decoding
    /// finds them (serde stops at the first): each unknown field is reported
    /// and removed, each missing field reported and filled with a stand-in,
    /// and decoding tried again, until it decodes or an error of another
    /// kind stops it. Returns the errors, and the typed payload if it
    /// decoded with nothing filled in (so its rules can be checked too).
    pub fn diagnose(kind: EventType, data: &serde_json::Value) -> (Vec<crate::FieldError>, Option<EventData>) {
        use serde_json::{json, Value};
        /// Stand-ins tried in turn for a missing field, until one has its type.
        fn stand_in(attempt: usize) -> Option<Value> {
            [json!(""), json!([]), json!({}), json!(0)].get(attempt).cloned()
        }
        let (mut data, mut errors, mut filled) = (data.clone(), Vec::new(), Vec::<(Vec<Step>, usize)>::new());
        for _ in 0..256 {
            let (steps, rule) = match decode_at(kind, &data) {
                Ok(typed) => return (errors, filled.is_empty().then_some(typed)),
                Err(failure) => failure,
            };
            if let Some(entry) = filled.iter_mut().find(|(at, _)| *at == steps) {
                // A stand-in of the wrong type: try the next one.
                entry.1 += 1;
                if stand_in(entry.1).is_some_and(|value| set(&mut data, &steps, value)) {
                    continue;
                }
                break;
            }
            if let Some(name) = rule.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                let mut at = steps.clone();
                at.push(Step::Key(name.to_string()));
                errors.push(crate::FieldError::new(path_text(&at), "is required"));
                if !set(&mut data, &at, stand_in(0).expect("one stand-in")) {
                    break;
                }
                filled.push((at, 0));
                continue;
            }
            errors.push(crate::FieldError::new(path_text(&steps), rule.clone()));
            if !rule.starts_with("unknown field") || !remove(&mut data, &steps) {
                break;
            }
        }
        (errors, None)
    }

    /// Decodes `data` from its raw JSON text in one pass (the fold's fast
    /// path); on failure, the same error [`EventData::decode`] gives.
    pub fn decode_json(kind: EventType, json: &str) -> Result<EventData, crate::FieldError> {
        fn typed<T: serde::de::DeserializeOwned>(json: &str) -> Option<T> {
            serde_json::from_str(json).ok()
        }
        let fast = match kind {
            EventType::PartyRegistered => typed(json).map(EventData::PartyRegistered),
            EventType::VisitHeld => typed(json).map(EventData::VisitHeld),
            EventType::AgreementSigned => typed(json).map(EventData::AgreementSigned),
            EventType::AgreementAmended => typed(json).map(EventData::AgreementAmended),
            EventType::AgreementTerminated => typed(json).map(EventData::AgreementTerminated),
            EventType::AidPledged => typed(json).map(EventData::AidPledged),
            EventType::AidDelivered => typed(json).map(EventData::AidDelivered),
            EventType::ProjectLaunched => typed(json).map(EventData::ProjectLaunched),
            EventType::ProjectProgress => typed(json).map(EventData::ProjectProgress),
            EventType::ProjectCompleted => typed(json).map(EventData::ProjectCompleted),
            EventType::AwardConferred => typed(json).map(EventData::AwardConferred),
            EventType::ActivityHeld => typed(json).map(EventData::ActivityHeld),
            EventType::EventRetracted => typed(json).map(EventData::EventRetracted),
        };
        match fast {
            Some(data) => Ok(data),
            None => {
                let value: serde_json::Value = serde_json::from_str(json)
                    .map_err(|e| crate::FieldError::new("data", format!("not valid JSON: {e}")))?;
                EventData::decode(kind, &value)
            }
        }
    }

    pub fn event_type(&self) -> EventType {
        match self {
            EventData::PartyRegistered(_) => EventType::PartyRegistered,
            EventData::VisitHeld(_) => EventType::VisitHeld,
            EventData::AgreementSigned(_) => EventType::AgreementSigned,
            EventData::AgreementAmended(_) => EventType::AgreementAmended,
            EventData::AgreementTerminated(_) => EventType::AgreementTerminated,
            EventData::AidPledged(_) => EventType::AidPledged,
            EventData::AidDelivered(_) => EventType::AidDelivered,
            EventData::ProjectLaunched(_) => EventType::ProjectLaunched,
            EventData::ProjectProgress(_) => EventType::ProjectProgress,
            EventData::ProjectCompleted(_) => EventType::ProjectCompleted,
            EventData::AwardConferred(_) => EventType::AwardConferred,
            EventData::ActivityHeld(_) => EventType::ActivityHeld,
            EventData::EventRetracted(_) => EventType::EventRetracted,
        }
    }
}

/// One step of a path into a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// [`EventData::decode`], with the failing path as steps.
fn decode_at(kind: EventType, data: &serde_json::Value) -> Result<EventData, (Vec<Step>, String)> {
    fn typed<T: serde::de::DeserializeOwned>(data: &serde_json::Value) -> Result<T, (Vec<Step>, String)> {
        use serde_path_to_error::Segment;
        serde_path_to_error::deserialize(data).map_err(|e| {
            let steps = e
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    Segment::Seq { index } => Some(Step::Index(*index)),
                    Segment::Map { key } | Segment::Enum { variant: key } => Some(Step::Key(key.clone())),
                    Segment::Unknown => None,
                })
                .collect();
            (steps, e.into_inner().to_string())
        })
    }
    Ok(match kind {
        EventType::PartyRegistered => EventData::PartyRegistered(typed(data)?),
        EventType::VisitHeld => EventData::VisitHeld(typed(data)?),
        EventType::AgreementSigned => EventData::AgreementSigned(typed(data)?),
        EventType::AgreementAmended => EventData::AgreementAmended(typed(data)?),
        EventType::AgreementTerminated => EventData::AgreementTerminated(typed(data)?),
        EventType::AidPledged => EventData::AidPledged(typed(data)?),
        EventType::AidDelivered => EventData::AidDelivered(typed(data)?),
        EventType::ProjectLaunched => EventData::ProjectLaunched(typed(data)?),
        EventType::ProjectProgress => EventData::ProjectProgress(typed(data)?),
        EventType::ProjectCompleted => EventData::ProjectCompleted(typed(data)?),
        EventType::AwardConferred => EventData::AwardConferred(typed(data)?),
        EventType::ActivityHeld => EventData::ActivityHeld(typed(data)?),
        EventType::EventRetracted => EventData::EventRetracted(typed(data)?),
    })
}

/// `data.a[0].b`, as the other field errors name fields.
fn path_text(steps: &[Step]) -> String {
    let mut out = String::from("data");
    for step in steps {
        match step {
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// The value holding the last step of `steps`.
fn parent<'a>(data: &'a mut serde_json::Value, steps: &[Step]) -> Option<&'a mut serde_json::Value> {
    let (_, within) = steps.split_last()?;
    let mut at = data;
    for step in within {
        at = match step {
            Step::Key(key) => at.get_mut(key.as_str())?,
            Step::Index(index) => at.get_mut(*index)?,
        };
    }
    Some(at)
}

/// Removes the member at `steps`; false if there is none.
fn remove(data: &mut serde_json::Value, steps: &[Step]) -> bool {
    match (parent(data, steps), steps.last()) {
        (Some(serde_json::Value::Object(map)), Some(Step::Key(key))) => map.remove(key).is_some(),
        _ => false,
    }
}

/// Sets the member at `steps` (in an object); false if it cannot be.
fn set(data: &mut serde_json::Value, steps: &[Step], value: serde_json::Value) -> bool {
    match (parent(data, steps), steps.last()) {
        (Some(serde_json::Value::Object(map)), Some(Step::Key(key))) => {
            map.insert(key.clone(), value);
            true
        }
        _ => false,
    }
}
