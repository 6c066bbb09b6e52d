//! What a writer sends, checked in two steps. [`Checked::parse`] needs
//! nothing but the bytes: JSON shape, field names, dates, money, ids, limits.
//! [`Checked::validate`] asks the ledger ([`Known`]) about references,
//! duplicates and retraction targets, and yields a [`Validated`] submission:
//! the only thing the store will append. Every broken rule becomes one
//! [`FieldError`] naming the field; nothing here panics on any input.

use crate::data::*;
use crate::date::Edtf;
use crate::error::{join_path, Errors, FieldError, Rejection};
use crate::knowledge::{id_key, IdKey};
use crate::known::{self, EntityAttrs, EntityKey, EntityKind, Known};
use crate::limits::*;
use crate::money::{Currency, Money};
use crate::record::{content_digest_after, data_prefix, ContentDigest};
use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// The largest submission accepted: room is left for the ledger's own fields
/// so that no stored record exceeds [`RECORD_BYTES_MAX`].
pub const SUBMISSION_BYTES_MAX: usize = RECORD_BYTES_MAX - 1024;

/// Length of an id the ledger generates (a hyphenated UUIDv7).
pub const GENERATED_ID_CHARS: usize = 36;

/// The bytes every stored record has whatever its fields: its keys,
/// quotes, colons, commas and braces. The size rule's bound and the
/// sealer's exact length both start from it.
pub(crate) const RECORD_FRAME_BYTES: usize =
    r#"{"data":,"hash":"","id":"","occurred":"","prev":"","recorded_at":"","seq":,"sources":,"type":""}"#.len();

/// Fields the ledger sets; a writer who sends one is told so.
const LEDGER_FIELDS: [&str; 4] = ["seq", "recorded_at", "prev", "hash"];
const WRITER_FIELDS: [&str; 6] = ["type", "occurred", "data", "id", "sources", "expect"];

/// Optimistic concurrency: append only if `stream` has exactly `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub stream: String,
    pub version: u64,
}

/// The canonical parts of a submission, in one buffer: `data` and
/// `sources` in JCS form and where each is in it.
struct Parts {
    jcs: bytes::Bytes,
    data_at: (usize, usize),
    sources_at: (usize, usize),
}

/// A submission that passed every rule needing no ledger state.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Inline up to 24 bytes, as most ids and dates are.
    id: Option<CompactString>,
    event_type: EventType,
    occurred: Edtf,
    occurred_text: CompactString,
    typed: EventData,
    /// `data` and `sources` in JCS form, serialized once here, in one
    /// buffer: sealing copies these bytes, and the content digest is
    /// computed from them. The fast parse's share an arena ([`arena_copy`]).
    jcs: bytes::Bytes,
    /// Where `data` and `sources` are in `jcs`.
    data_at: (u32, u32),
    sources_at: (u32, u32),
    /// Hashing done here, on the writer's side, once: the id's key, the
    /// SHA-256 state after the record's opening (`{"data":` and `data`),
    /// which sealing resumes, and the content digest, which continues it.
    id_key: Option<IdKey>,
    prefix: DataPrefix,
    content: ContentDigest,
    expect: Option<Expect>,
}

/// Equal when every part is, wherever in its buffer each part lies.
impl PartialEq for Checked {
    fn eq(&self, other: &Checked) -> bool {
        (self.id == other.id && self.event_type == other.event_type && self.occurred == other.occurred)
            && (self.occurred_text == other.occurred_text && self.typed == other.typed)
            && (self.data_jcs() == other.data_jcs() && self.sources_jcs() == other.sources_jcs())
            && (self.id_key == other.id_key && self.prefix == other.prefix && self.content == other.content)
            && self.expect == other.expect
    }
}

/// [`data_prefix`] of a submission's data. Equal when the data are (it is
/// computed from nothing else).
#[derive(Clone)]
struct DataPrefix(Sha256);

impl fmt::Debug for DataPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataPrefix(..)")
    }
}

impl PartialEq for DataPrefix {
    fn eq(&self, other: &DataPrefix) -> bool {
        use sha2::Digest;
        self.0.clone().finalize() == other.0.clone().finalize()
    }
}

/// A submission that passed every rule, against the ledger as it stood when
/// validated. Only [`Checked::validate`] makes one; the store appends nothing
/// else.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    checked: Checked,
    effects: known::Effects,
}

impl Validated {
    pub fn checked(&self) -> &Checked {
        &self.checked
    }

    pub fn effects(&self) -> &known::Effects {
        &self.effects
    }

    pub fn into_parts(self) -> (Checked, known::Effects) {
        (self.checked, self.effects)
    }
}

thread_local! {
    /// The fast parse's scratch buffer, one a thread, reused.
    static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    /// Where the fast parse keeps each submission's canonical parts: one
    /// arena a thread, shared by the submissions parsed on it.
    static ARENA: std::cell::Cell<bytes::BytesMut> = std::cell::Cell::new(bytes::BytesMut::new());
}

/// `bytes`, copied into this thread's arena ([`crate::arena`]).
fn arena_copy(bytes: &[u8]) -> bytes::Bytes {
    let mut arena = ARENA.take();
    crate::arena::reserve(&mut arena, bytes.len());
    arena.extend_from_slice(bytes);
    let copied = crate::arena::take(&mut arena);
    ARENA.set(arena);
    copied
}

impl Checked {
    /// Decodes and checks one submission from raw bytes.
    pub fn parse(bytes: &[u8]) -> Result<Checked, Rejection> {
        if bytes.len() > SUBMISSION_BYTES_MAX {
            return Err(Rejection::one(
                "submission",
                format!("{} bytes is more than the {SUBMISSION_BYTES_MAX} a submission may have", bytes.len()),
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Rejection::one("submission", format!("not valid UTF-8 (at byte {})", e.valid_up_to())))?;
        if let Some(checked) = Checked::parse_fast(text, 0) {
            return Ok(checked);
        }
        Checked::from_strict_value(parse_strict(text)?)
    }

    /// [`Checked::parse`] of a submission that breaks no rule, in one walk
    /// of its text ([`crate::jcs`]): `data` and `sources` are written in
    /// their canonical form as they are read, with no `Value` built. `None`
    /// for any submission that breaks a rule (or might): the strict parse
    /// then finds and names every broken rule. So the rules are checked by
    /// the same functions either way, and a test holds the two paths to the
    /// same result.
    ///
    /// `outside` is how many JSON containers hold the submission (1 in a
    /// batch), for the nesting limit.
    fn parse_fast(text: &str, outside: usize) -> Option<Checked> {
        // `data`, `sources` (and `expect`) written one after the other into
        // one buffer, the thread's scratch, reused; their canonical forms
        // are no longer than the text.
        let mut jcs = SCRATCH.take();
        jcs.clear();
        jcs.reserve(text.len() + 2);
        let checked = Checked::parse_fast_into(text, outside, &mut jcs);
        SCRATCH.set(jcs);
        checked
    }

    fn parse_fast_into(text: &str, outside: usize, jcs: &mut String) -> Option<Checked> {
        let mut walk = crate::jcs::Walk::new(text);
        let (mut event_type, mut occurred_text, mut id) = (None, None, None);
        let (mut data_at, mut sources_at, mut expect_at) = (None, None, None);
        let mut canonical = |walk: &mut crate::jcs::Walk, slot: &mut Option<(usize, usize)>| {
            let start = jcs.len();
            walk.value(jcs, outside + 1)?;
            slot.replace((start, jcs.len())).is_none().then_some(())
        };
        walk.members(|walk, key| {
            let text = match key.as_ref() {
                "type" => &mut event_type,
                "occurred" => &mut occurred_text,
                "id" => &mut id,
                "data" => return canonical(walk, &mut data_at),
                "sources" => return canonical(walk, &mut sources_at),
                "expect" => return canonical(walk, &mut expect_at),
                _ => return None,
            };
            text.replace(walk.text()?).is_none().then_some(())
        })?;
        walk.end()?;
        let event_type = event_type.as_deref()?.parse::<EventType>().ok()?;
        let occurred_text = CompactString::from(occurred_text?);
        let id = id.map(CompactString::from);
        let occurred = occurred_text.parse::<Edtf>().ok()?;
        let mut errors = Errors::default();
        if let Some(id) = &id {
            check_id("id", id, ID_CHARS_MAX, &mut errors);
        }
        let sources_at = match sources_at {
            Some(at) => {
                if &jcs[at.0..at.1] != "[]" {
                    check_sources_text(&jcs[at.0..at.1], &mut errors)?;
                }
                at
            }
            None => {
                jcs.push_str("[]");
                (jcs.len() - 2, jcs.len())
            }
        };
        let expect = match expect_at {
            None => None,
            Some(at) => Some(check_expect(serde_json::from_str(&jcs[at.0..at.1]).ok()?, &mut errors)?),
        };
        let data_at = data_at?;
        let typed = EventData::decode_json(event_type, &jcs[data_at.0..data_at.1]).ok()?;
        check_payload(&typed, &mut errors);
        if !errors.is_empty() {
            return None;
        }
        let parts = Parts { jcs: arena_copy(jcs.as_bytes()), data_at, sources_at };
        Some(Checked::new(id, event_type, (occurred, occurred_text), typed, parts, expect))
    }

    /// Decodes one submission or a JSON array of them (a batch), with the same
    /// strict JSON rules. A batch may be up to `bytes_max` bytes and
    /// `count_max` submissions. Errors name the 0-based index they are in;
    /// every bad submission of a batch is reported, not only the first.
    pub fn parse_many(
        bytes: &[u8],
        bytes_max: usize,
        count_max: usize,
    ) -> Result<Vec<Checked>, Vec<(usize, Rejection)>> {
        let text = bytes.trim_ascii();
        if !text.starts_with(b"[") {
            return Checked::parse(text).map(|one| vec![one]).map_err(|e| vec![(0, e)]);
        }
        if text.len() > bytes_max {
            let rule = format!("{} bytes is more than the {bytes_max} a batch may have", text.len());
            return Err(vec![(0, Rejection::one("batch", rule))]);
        }
        let text = std::str::from_utf8(text).map_err(|e| {
            vec![(0, Rejection::one("batch", format!("not valid UTF-8 (at byte {})", e.valid_up_to())))]
        })?;
        // A batch that breaks no rule takes the fast path, item by item; any
        // other is parsed strictly as a whole, to report every broken rule.
        if let Ok(items) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(text) {
            if (1..=count_max).contains(&items.len()) {
                let fast: Option<Vec<Checked>> = items.iter().map(|item| Checked::parse_fast(item.get(), 1)).collect();
                if let Some(good) = fast {
                    return Ok(good);
                }
            }
        }
        let Value::Array(items) = parse_strict(text).map_err(|e| vec![(0, e)])? else {
            return Err(vec![(0, Rejection::one("batch", "must be a JSON array of submissions"))]);
        };
        if items.is_empty() || items.len() > count_max {
            return Err(vec![(0, Rejection::one("batch", format!("must hold 1 to {count_max} submissions")))]);
        }
        let (mut good, mut bad) = (Vec::with_capacity(items.len()), Vec::new());
        for (i, item) in items.into_iter().enumerate() {
            match Checked::from_strict_value(item) {
                Ok(checked) => good.push(checked),
                Err(rejection) => bad.push((i, rejection)),
            }
        }
        if bad.is_empty() {
            Ok(good)
        } else {
            Err(bad)
        }
    }

    /// The field rules, for a value [`parse_strict`] produced (so its JSON
    /// rules already hold and are not walked again).
    fn from_strict_value(value: Value) -> Result<Checked, Rejection> {
        let mut errors = Errors::default();
        let Value::Object(mut fields) = value else {
            return Err(Rejection::one("submission", "must be a JSON object"));
        };
        for name in fields.keys() {
            if LEDGER_FIELDS.contains(&name.as_str()) {
                errors.push(name.clone(), "is set by the ledger; a writer must not send it");
            } else if !WRITER_FIELDS.contains(&name.as_str()) {
                errors.push(name.clone(), "is not a field of a submission (type, occurred, data, id, sources, expect)");
            }
        }
        let event_type = match fields.remove("type") {
            Some(Value::String(t)) => t.parse::<EventType>().map_err(|e| errors.push("type", e)).ok(),
            Some(_) => {
                errors.push("type", "must be a string");
                None
            }
            None => {
                errors.push("type", "is required");
                None
            }
        };
        let occurred = match fields.remove("occurred") {
            Some(Value::String(text)) => match text.parse::<Edtf>() {
                Ok(date) => Some((date, text)),
                Err(e) => {
                    errors.push("occurred", e);
                    None
                }
            },
            Some(_) => {
                errors.push("occurred", "must be a date string (YYYY, YYYY-MM, YYYY-MM-DD or an interval A/B)");
                None
            }
            None => {
                errors.push("occurred", "is required");
                None
            }
        };
        let id = match fields.remove("id") {
            None => None,
            Some(Value::String(id)) => {
                check_id("id", &id, ID_CHARS_MAX, &mut errors);
                Some(id)
            }
            Some(_) => {
                errors.push("id", "must be a string");
                None
            }
        };
        let sources = fields.remove("sources").unwrap_or_else(|| Value::Array(Vec::new()));
        check_sources(&sources, &mut errors);
        let expect = fields.remove("expect").and_then(|v| check_expect(v, &mut errors));
        let data = fields.remove("data");
        if data.is_none() {
            errors.push("data", "is required");
        }
        // With sorted maps and no floats, serde_json's compact form is JCS.
        // The typed payload is decoded from that text: faster than from the
        // `Value`, and the bytes are needed anyway.
        let data_jcs = data.as_ref().map(|data| serde_json::to_string(data).expect("a Value always serializes"));
        let typed = match (event_type, &data_jcs) {
            (Some(kind), Some(json)) => match EventData::decode_json(kind, json) {
                Ok(typed) => {
                    check_payload(&typed, &mut errors);
                    Some(typed)
                }
                Err(_) => {
                    // Report every problem decoding can find, not the first.
                    let value = data.as_ref().expect("data_jcs came from it");
                    let (problems, typed) = EventData::diagnose(kind, value);
                    for problem in problems {
                        errors.push(problem.field, problem.rule);
                    }
                    if let Some(typed) = &typed {
                        check_payload(typed, &mut errors);
                    }
                    None
                }
            },
            _ => None,
        };
        match (event_type, occurred, data_jcs, typed) {
            (Some(event_type), Some((occurred, occurred_text)), Some(data_jcs), Some(typed)) if errors.is_empty() => {
                let mut jcs = data_jcs.into_bytes();
                let data_at = (0, jcs.len());
                serde_json::to_writer(&mut jcs, &sources).expect("a Value always serializes");
                let parts = Parts { sources_at: (data_at.1, jcs.len()), jcs: jcs.into(), data_at };
                let (id, occurred_text) = (id.map(CompactString::from), CompactString::from(occurred_text));
                Ok(Checked::new(id, event_type, (occurred, occurred_text), typed, parts, expect))
            }
            _ => Err(errors.into_rejection()),
        }
    }

    /// A submission that broke no rule, with its hashing done.
    fn new(
        id: Option<CompactString>,
        event_type: EventType,
        (occurred, occurred_text): (Edtf, CompactString),
        typed: EventData,
        Parts { jcs, data_at, sources_at }: Parts,
        expect: Option<Expect>,
    ) -> Checked {
        let at = |(start, end): (usize, usize)| {
            let offset = |at: usize| u32::try_from(at).expect("a submission is far smaller than 4 GiB");
            (offset(start), offset(end))
        };
        let prefix = data_prefix(&jcs[data_at.0..data_at.1]);
        let sources = &jcs[sources_at.0..sources_at.1];
        let content = content_digest_after(prefix.clone(), event_type.as_str(), &occurred_text, sources);
        let id_key = id.as_deref().map(id_key);
        let prefix = DataPrefix(prefix);
        Checked {
            id,
            event_type,
            occurred,
            occurred_text,
            typed,
            jcs,
            data_at: at(data_at),
            sources_at: at(sources_at),
            id_key,
            prefix,
            content,
            expect,
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The key the ledger knows its id by ([`id_key`]), if it names one.
    pub fn id_key(&self) -> Option<IdKey> {
        self.id_key
    }

    /// SHA-256 after the opening of the record this submission becomes
    /// ([`data_prefix`]), for sealing to resume.
    pub(crate) fn data_prefix(&self) -> &Sha256 {
        &self.prefix.0
    }

    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    pub fn occurred(&self) -> Edtf {
        self.occurred
    }

    pub fn occurred_text(&self) -> &str {
        &self.occurred_text
    }

    pub fn typed(&self) -> &EventData {
        &self.typed
    }

    /// The JCS bytes of `data`, exactly as they will be stored.
    pub fn data_jcs(&self) -> &[u8] {
        &self.jcs[self.data_at.0 as usize..self.data_at.1 as usize]
    }

    /// The JCS bytes of `sources`, exactly as they will be stored.
    pub fn sources_jcs(&self) -> &[u8] {
        &self.jcs[self.sources_at.0 as usize..self.sources_at.1 as usize]
    }

    pub fn expect(&self) -> Option<&Expect> {
        self.expect.as_ref()
    }

    /// What idempotency compares with a stored record of the same id.
    pub fn content_digest(&self) -> ContentDigest {
        self.content
    }

    /// The typed payload, moved out once the record is sealed (for the views).
    pub fn into_typed(self) -> EventData {
        self.typed
    }

    /// Bytes of the stored record this submission would become, at most:
    /// its own parts, the ledger's fields at their widest (a 20-digit seq,
    /// a generated 36-character id when it names none), and the punctuation.
    /// Sealing produces exactly this minus the seq's unused digits, so the
    /// size rule decides the same before and after sealing.
    pub fn record_bytes_max(&self) -> usize {
        const LEDGER_FIELDS: usize = 64 + 64 + 27 + 20;
        let id = self.id.as_ref().map_or(GENERATED_ID_CHARS, CompactString::len);
        RECORD_FRAME_BYTES
            + LEDGER_FIELDS
            + id
            + self.data_jcs().len()
            + self.sources_jcs().len()
            + self.occurred_text.len()
            + self.event_type.as_str().len()
    }

    /// Checks the rules that depend on what the ledger already holds.
    pub fn validate(self, known: &impl Known) -> Result<Validated, Rejection> {
        let mut errors = Errors::default();
        let introduces = known::introduction(&self.typed);
        if let Some((key, _)) = &introduces {
            if known.entity(key.kind, &key.id).is_some() {
                let field = format!("data.{}", key.kind.as_str());
                errors.push(field, format!("{} `{}` already exists; ids are never reused", key.kind.as_str(), key.id));
            }
        }
        let references = known::references(&self.typed);
        for (field, key) in &references {
            if known.entity(key.kind, &key.id).is_none() {
                errors.push(field.to_string(), format!("{} `{}` is not in the ledger", key.kind.as_str(), key.id));
            }
        }
        let mut target_streams = Vec::new();
        let mut retracts = None;
        if let EventData::EventRetracted(d) = &self.typed {
            match known.event(&d.target) {
                None => errors.push("data.target", format!("no event `{}` is in the ledger", d.target)),
                Some(target) if target.event_type == EventType::EventRetracted => {
                    errors.push("data.target", "a retraction cannot be retracted")
                }
                Some(target) if target.retracted => errors.push("data.target", "that event is already retracted"),
                Some(target) => {
                    target_streams = target.streams;
                    retracts = Some(d.target.clone());
                }
            }
        }
        if errors.is_empty() {
            check_consistency(&self.typed, known, &mut errors);
        }
        let introduced = introduces.as_ref().map(|(key, _)| key.clone());
        let streams = known::stream_keys(references.into_iter().map(|(_, key)| key).chain(introduced), target_streams);
        let effects = known::Effects { introduces, streams, retracts };
        errors.into_result(Validated { checked: self, effects })
    }
}

/// The cross-entity rules of section 3: aid that names a project goes to its
/// beneficiary from one of its funders; a delivery that names a pledge has
/// the pledge's donor, recipient and project; signatories sign for a party.
fn check_consistency(data: &EventData, known: &impl Known, errors: &mut Errors) {
    let project = |id: &str| known.entity(EntityKind::Project, id).unwrap_or(&known::NO_ATTRS);
    let pledge = |id: &str| known.entity(EntityKind::Pledge, id).unwrap_or(&known::NO_ATTRS);
    let check_project_aid = |errors: &mut Errors, id: &str, donor: &str, recipient: &str| {
        let attrs = project(id);
        if attrs.beneficiary.as_deref() != Some(recipient) {
            let beneficiary = attrs.beneficiary.as_deref().unwrap_or_default();
            errors.push("data.recipient", format!("must be `{beneficiary}`, the beneficiary of project `{id}`"));
        }
        if !attrs.funders.iter().any(|f| f == donor) {
            errors.push(
                "data.donor",
                format!("must be one of the funders of project `{id}`: {}", attrs.funders.join(", ")),
            );
        }
    };
    match data {
        EventData::AidPledged(d) => {
            if let Some(id) = &d.project {
                check_project_aid(errors, id, &d.donor, &d.recipient);
            }
        }
        EventData::AidDelivered(d) => {
            if let Some(id) = &d.pledge {
                let attrs: &EntityAttrs = pledge(id);
                for (field, stated, wanted) in
                    [("donor", Some(&d.donor), &attrs.donor), ("recipient", Some(&d.recipient), &attrs.recipient)]
                {
                    if stated != wanted.as_ref() {
                        let wanted = wanted.as_deref().unwrap_or_default();
                        errors.push(format!("data.{field}"), format!("must be `{wanted}`, as in pledge `{id}`"));
                    }
                }
                if attrs.project.is_some() && d.project != attrs.project {
                    let wanted = attrs.project.as_deref().unwrap_or_default();
                    errors.push("data.project", format!("must be `{wanted}`, the project of pledge `{id}`"));
                }
            }
            if let Some(id) = &d.project {
                check_project_aid(errors, id, &d.donor, &d.recipient);
            }
        }
        EventData::ProjectLaunched(d) => {
            if let Some(id) = &d.pledge {
                let attrs = pledge(id);
                if attrs.recipient.as_deref() != Some(d.beneficiary.as_str()) {
                    errors.push("data.beneficiary", format!("must be the recipient of pledge `{id}`"));
                }
                if !attrs.donor.as_ref().is_some_and(|donor| d.funders.contains(donor)) {
                    errors.push("data.funders", format!("must include the donor of pledge `{id}`"));
                }
                if attrs.project.as_ref().is_some_and(|p| *p != d.project) {
                    errors.push("data.pledge", format!("pledge `{id}` is for another project"));
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Strict JSON: duplicate keys, floats and excessive depth are errors, not
// silently resolved (serde_json's own Value keeps the last duplicate).

pub(crate) fn parse_strict(text: &str) -> Result<Value, Rejection> {
    // serde_json's own nesting limit (128) stays on; ours is lower and
    // enforced by StrictSeed. The byte limit already bounds array lengths.
    // Tracking the path costs time on every value, so it is done only when
    // the fast parse failed, to name where.
    let mut deserializer = serde_json::Deserializer::from_str(text);
    if let Ok(value) = (StrictSeed { depth: 0 }).deserialize(&mut deserializer) {
        if deserializer.end().is_ok() {
            return Ok(value);
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize::<_, StrictValue>(&mut deserializer)
        .map_err(|e| Rejection::one(join_path("", e.path()), format!("not valid JSON: {}", e.into_inner())))?;
    deserializer.end().map_err(|e| Rejection::one("submission", format!("not valid JSON: {e}")))?;
    Ok(value.0)
}

struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        StrictSeed { depth: 0 }.deserialize(deserializer).map(StrictValue)
    }
}

#[derive(Clone, Copy)]
struct StrictSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value without floats")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > INTEGER_ABS_MAX {
            return Err(E::custom(format!("integer {v} is outside ±{INTEGER_ABS_MAX}")));
        }
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > INTEGER_ABS_MAX {
            return Err(E::custom(format!("integer {v} is outside ±{INTEGER_ABS_MAX}")));
        }
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(E::custom(format!("{v} is a float; the ledger has no floats (write money as a decimal string)")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("field `{key}` appears twice")));
            }
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

impl StrictSeed {
    fn deeper<E: de::Error>(self) -> Result<StrictSeed, E> {
        if self.depth >= JSON_DEPTH_MAX {
            return Err(E::custom(format!("nested deeper than {JSON_DEPTH_MAX} levels")));
        }
        Ok(StrictSeed { depth: self.depth + 1 })
    }
}

// ---------------------------------------------------------------------------
// Rules on single fields.

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// Event ids and non-party entity ids: 1–`max` chars of `[A-Za-z0-9._:-]`.
fn check_id(field: &str, id: &str, max: usize, errors: &mut Errors) {
    if id.is_empty() || id.len() > max {
        errors.push(field, format!("must be 1 to {max} characters"));
    } else if let Some(bad) = id.chars().find(|&c| !is_id_char(c)) {
        errors.push(field, format!("{bad:?} is not allowed; ids use only A-Z a-z 0-9 . _ : -"));
    }
}

/// Party ids: lower-case slugs joined by `/` (`la/vientiane/justice-dept`).
fn check_party_id(field: impl fmt::Display, id: &str, errors: &mut Errors) {
    let slug_ok = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--")
    };
    if id.is_empty() || id.len() > ENTITY_ID_CHARS_MAX {
        errors.push(field.to_string(), format!("must be 1 to {ENTITY_ID_CHARS_MAX} characters"));
    } else if !id.split('/').all(slug_ok) {
        errors
            .push(field.to_string(), format!("`{id}` is not a party id: lower-case slugs (a-z, 0-9, -) joined by `/`"));
    }
}

/// Field names are formatted only for the errors (`field` is often a
/// `format_args!`): the checks run on every submission, the errors rarely.
fn check_text(field: impl fmt::Display, text: &str, max: usize, errors: &mut Errors) {
    if text.trim().is_empty() {
        errors.push(field.to_string(), "must not be empty");
    } else if text.len() > max && text.chars().count() > max {
        errors.push(field.to_string(), format!("longer than {max} characters"));
    }
}

fn check_optional_text<T: AsRef<str>>(field: impl fmt::Display, text: &Option<T>, max: usize, errors: &mut Errors) {
    if let Some(text) = text {
        check_text(field, text.as_ref(), max, errors);
    }
}

fn check_date(field: impl fmt::Display, text: &str, errors: &mut Errors) {
    if let Err(e) = text.parse::<Edtf>() {
        errors.push(field.to_string(), e);
    }
}

fn check_len<T>(field: &str, list: &[T], min: usize, errors: &mut Errors) -> bool {
    if list.len() < min {
        errors.push(field, format!("needs at least {min}"));
        false
    } else if list.len() > LIST_LEN_MAX {
        errors.push(field, format!("more than {LIST_LEN_MAX} entries"));
        false
    } else {
        true
    }
}

fn check_parties(field: &str, parties: &[CompactString], min: usize, errors: &mut Errors) {
    if !check_len(field, parties, min, errors) {
        return;
    }
    let mut seen = BTreeSet::new();
    for (i, party) in parties.iter().enumerate() {
        check_party_id(format_args!("{field}[{i}]"), party, errors);
        if !seen.insert(party) {
            errors.push(format!("{field}[{i}]"), format!("`{party}` is listed twice"));
        }
    }
}

fn check_person(field: impl fmt::Display, person: &Person, errors: &mut Errors) {
    check_text(format_args!("{field}.name"), &person.name, NAME_CHARS_MAX, errors);
    check_optional_text(format_args!("{field}.title"), &person.title, NAME_CHARS_MAX, errors);
}

fn check_people(field: &str, people: &Option<Vec<Person>>, errors: &mut Errors) {
    if let Some(people) = people {
        if check_len(field, people, 0, errors) {
            for (i, person) in people.iter().enumerate() {
                check_person(format_args!("{field}[{i}]"), person, errors);
            }
        }
    }
}

fn check_money(field: &str, money: &MoneyData, errors: &mut Errors) {
    match Currency::from_code(&money.currency) {
        Err(e) => {
            errors.push(format!("{field}.currency"), e);
            // The amount's form does not depend on the currency.
            if let Err(e) = Money::check_form(&money.amount) {
                errors.push(format!("{field}.amount"), e);
            }
        }
        Ok(currency) => {
            if let Err(e) = Money::parse(&money.amount, currency) {
                errors.push(format!("{field}.amount"), e);
            }
        }
    }
}

fn check_items(field: &str, items: &[Item], errors: &mut Errors) {
    if !check_len(field, items, 1, errors) {
        return;
    }
    for (i, item) in items.iter().enumerate() {
        check_text(format_args!("{field}[{i}].item"), &item.item, NAME_CHARS_MAX, errors);
        check_text(format_args!("{field}[{i}].unit"), &item.unit, NAME_CHARS_MAX, errors);
        if item.quantity <= 0 {
            errors.push(format!("{field}[{i}].quantity"), "must be a positive integer");
        }
    }
}

fn check_aid(
    amount: &Option<MoneyData>,
    items: &Option<Vec<Item>>,
    donor: &str,
    recipient: &str,
    purpose: &str,
    errors: &mut Errors,
) {
    check_party_id("data.donor", donor, errors);
    check_party_id("data.recipient", recipient, errors);
    if donor == recipient {
        errors.push("data.recipient", "must differ from the donor");
    }
    check_text("data.purpose", purpose, TEXT_CHARS_MAX, errors);
    if amount.is_none() && items.is_none() {
        errors.push("data", "aid needs at least one of `amount` and `items`");
    }
    if let Some(amount) = amount {
        check_money("data.amount", amount, errors);
    }
    if let Some(items) = items {
        check_items("data.items", items, errors);
    }
}

fn check_figures(figures: &std::collections::BTreeMap<CompactString, i64>, errors: &mut Errors) {
    if figures.len() > FIGURES_LEN_MAX {
        errors.push("data.figures", format!("more than {FIGURES_LEN_MAX} entries"));
    }
    for (name, value) in figures {
        let snake = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !snake {
            errors.push(
                format!("data.figures.{name}"),
                "names are snake_case ASCII (a-z, 0-9, _), at most 64 characters",
            );
        }
        if *value < 0 {
            errors.push(format!("data.figures.{name}"), "must be a non-negative integer");
        }
    }
}

/// The per-type rules of section 3 that need no ledger state.
fn check_payload(data: &EventData, errors: &mut Errors) {
    match data {
        EventData::PartyRegistered(d) => {
            check_party_id("data.party", &d.party, errors);
            check_text("data.name", &d.name, NAME_CHARS_MAX, errors);
            check_optional_text("data.name_en", &d.name_en, NAME_CHARS_MAX, errors);
            if isocountry::CountryCode::for_alpha2(&d.country).is_err() {
                errors.push("data.country", format!("`{}` is not an ISO 3166-1 alpha-2 code", d.country));
            }
            if let Some(within) = &d.within {
                check_party_id("data.within", within, errors);
                if *within == d.party {
                    errors.push("data.within", "a party cannot be within itself");
                }
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::VisitHeld(d) => {
            check_id("data.visit", &d.visit, ENTITY_ID_CHARS_MAX, errors);
            check_party_id("data.delegation_of", &d.delegation_of, errors);
            check_party_id("data.host", &d.host, errors);
            check_person("data.led_by", &d.led_by, errors);
            check_people("data.members", &d.members, errors);
            check_people("data.counterparts", &d.counterparts, errors);
            check_optional_text("data.place", &d.place, NAME_CHARS_MAX, errors);
            check_optional_text("data.purpose", &d.purpose, TEXT_CHARS_MAX, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AgreementSigned(d) => {
            check_id("data.agreement", &d.agreement, ENTITY_ID_CHARS_MAX, errors);
            check_text("data.title", &d.title, NAME_CHARS_MAX, errors);
            check_parties("data.parties", &d.parties, 2, errors);
            for (i, provision) in d.provisions.iter().flatten().enumerate() {
                check_text(format_args!("data.provisions[{i}].subject"), &provision.subject, TEXT_CHARS_MAX, errors);
                check_parties(&format!("data.provisions[{i}].parties"), &provision.parties, 2, errors);
            }
            if let Some(signatories) = &d.signatories {
                if check_len("data.signatories", signatories, 0, errors) {
                    for (i, s) in signatories.iter().enumerate() {
                        let field = format_args!("data.signatories[{i}]");
                        check_text(format_args!("{field}.name"), &s.name, NAME_CHARS_MAX, errors);
                        check_optional_text(format_args!("{field}.title"), &s.title, NAME_CHARS_MAX, errors);
                        if !d.parties.contains(&s.party) {
                            errors.push(
                                format!("{field}.party"),
                                format!("`{}` is not one of the agreement's parties", s.party),
                            );
                        }
                    }
                }
            }
            check_date("data.effective", &d.effective, errors);
            check_fields(&d.fields, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AgreementAmended(d) => {
            check_id("data.agreement", &d.agreement, ENTITY_ID_CHARS_MAX, errors);
            if let Some(effective) = &d.effective {
                check_date("data.effective", effective, errors);
            }
            check_optional_text("data.title", &d.title, NAME_CHARS_MAX, errors);
            check_fields(&d.fields, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AgreementTerminated(d) => {
            check_id("data.agreement", &d.agreement, ENTITY_ID_CHARS_MAX, errors);
            check_optional_text("data.reason", &d.reason, TEXT_CHARS_MAX, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AidPledged(d) => {
            check_id("data.pledge", &d.pledge, ENTITY_ID_CHARS_MAX, errors);
            check_aid(&d.amount, &d.items, &d.donor, &d.recipient, &d.purpose, errors);
            if let Some(project) = &d.project {
                check_id("data.project", project, ENTITY_ID_CHARS_MAX, errors);
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AidDelivered(d) => {
            check_aid(&d.amount, &d.items, &d.donor, &d.recipient, &d.purpose, errors);
            if let Some(pledge) = &d.pledge {
                check_id("data.pledge", pledge, ENTITY_ID_CHARS_MAX, errors);
            }
            if let Some(project) = &d.project {
                check_id("data.project", project, ENTITY_ID_CHARS_MAX, errors);
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::ProjectLaunched(d) => {
            check_id("data.project", &d.project, ENTITY_ID_CHARS_MAX, errors);
            check_text("data.name", &d.name, NAME_CHARS_MAX, errors);
            check_party_id("data.beneficiary", &d.beneficiary, errors);
            check_parties("data.funders", &d.funders, 1, errors);
            if let Some(pledge) = &d.pledge {
                check_id("data.pledge", pledge, ENTITY_ID_CHARS_MAX, errors);
            }
            if let Some(date) = &d.planned_completion {
                check_date("data.planned_completion", date, errors);
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::ProjectProgress(d) => {
            check_id("data.project", &d.project, ENTITY_ID_CHARS_MAX, errors);
            if d.percent.is_some_and(|p| !(0..=100).contains(&p)) {
                errors.push("data.percent", "must be an integer from 0 to 100");
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::ProjectCompleted(d) => {
            check_id("data.project", &d.project, ENTITY_ID_CHARS_MAX, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::AwardConferred(d) => {
            check_text("data.award", &d.award, NAME_CHARS_MAX, errors);
            check_optional_text("data.class", &d.class, NAME_CHARS_MAX, errors);
            check_party_id("data.by", &d.by, errors);
            check_party_id("data.to", &d.to, errors);
            if d.by == d.to {
                errors.push("data.to", "must differ from `by`");
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::ActivityHeld(d) => {
            check_text("data.title", &d.title, NAME_CHARS_MAX, errors);
            check_parties("data.parties", &d.parties, 1, errors);
            if let Some(figures) = &d.figures {
                check_figures(figures, errors);
            }
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
        EventData::EventRetracted(d) => {
            check_id("data.target", &d.target, ID_CHARS_MAX, errors);
            check_text("data.reason", &d.reason, TEXT_CHARS_MAX, errors);
            check_optional_text("data.note", &d.note, TEXT_CHARS_MAX, errors);
        }
    }
}

fn check_fields(fields: &Option<Vec<CompactString>>, errors: &mut Errors) {
    if let Some(fields) = fields {
        if check_len("data.fields", fields, 0, errors) {
            for (i, field) in fields.iter().enumerate() {
                check_text(format_args!("data.fields[{i}]"), field, NAME_CHARS_MAX, errors);
            }
        }
    }
}

/// One entry of `sources`, its texts borrowed from what it is read from
/// where they need no unescaping.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Source<'a> {
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    published: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    quote: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    lang: Option<Cow<'a, str>>,
}

fn check_sources(sources: &Value, errors: &mut Errors) {
    let Value::Array(list) = sources else {
        errors.push("sources", "must be a list of {title, url, published, quote, lang}");
        return;
    };
    if list.len() > LIST_LEN_MAX {
        errors.push("sources", format!("more than {LIST_LEN_MAX} entries"));
        return;
    }
    for (i, source) in list.iter().enumerate() {
        match serde_path_to_error::deserialize(source) {
            Ok(source) => check_source(i, &source, errors),
            Err(e) => errors.push(join_path(&format!("sources[{i}]"), e.path()), e.into_inner().to_string()),
        }
    }
}

/// [`check_sources`] from their canonical text, for a submission that
/// breaks no rule (`None` otherwise, as [`Checked::parse_fast`] wants).
fn check_sources_text(sources: &str, errors: &mut Errors) -> Option<()> {
    let list: Vec<Source> = serde_json::from_str(sources).ok()?;
    if list.len() > LIST_LEN_MAX {
        return None;
    }
    for (i, source) in list.iter().enumerate() {
        check_source(i, source, errors);
    }
    Some(())
}

fn check_source(i: usize, source: &Source<'_>, errors: &mut Errors) {
    let field = format_args!("sources[{i}]");
    check_text(format_args!("{field}.title"), &source.title, NAME_CHARS_MAX, errors);
    check_optional_text(format_args!("{field}.url"), &source.url, NAME_CHARS_MAX * 4, errors);
    if let Some(date) = &source.published {
        check_date(format_args!("{field}.published"), date, errors);
    }
    check_optional_text(format_args!("{field}.quote"), &source.quote, TEXT_CHARS_MAX, errors);
    if let Some(lang) = &source.lang {
        let tag_ok =
            !lang.is_empty() && lang.len() <= 35 && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !tag_ok {
            errors.push(format!("{field}.lang"), "must be a BCP 47 language tag such as `vi` or `lo`");
        }
    }
}

fn check_expect(value: Value, errors: &mut Errors) -> Option<Expect> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        stream: String,
        version: u64,
    }
    let raw: Raw = match serde_path_to_error::deserialize(value) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(join_path("expect", e.path()), e.into_inner().to_string());
            return None;
        }
    };
    match EntityKey::parse(&raw.stream) {
        Some(key) if !key.id.is_empty() => Some(Expect { stream: raw.stream, version: raw.version }),
        _ => {
            errors.push("expect.stream", "must be `party:`, `agreement:`, `pledge:`, `project:` or `visit:` and an id");
            None
        }
    }
}

impl From<FieldError> for Rejection {
    fn from(error: FieldError) -> Self {
        Rejection { errors: vec![error] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::History;
    use proptest::prelude::*;

    /// The strict parse alone: the reference the fast path must agree with.
    fn strictly(text: &str) -> Option<Checked> {
        Checked::from_strict_value(parse_strict(text).ok()?).ok()
    }

    /// A generated submission with one thing changed, some of which break a
    /// rule: a field removed, added, or given another value.
    fn changed(mut submission: Value, change: u8) -> Value {
        let object = submission.as_object_mut().expect("an object");
        match change % 10 {
            0 => drop(object.remove("occurred")),
            1 => drop(object.insert("seq".into(), Value::from(1))),
            2 => drop(object.insert("occurred".into(), Value::from("2024-13"))),
            3 => drop(object.insert("type".into(), Value::from("visit.cancelled"))),
            4 => drop(object.insert("id".into(), Value::from("no spaces allowed"))),
            5 => drop(object.insert("sources".into(), serde_json::json!([{"title": "t", "lang": "not a tag!"}]))),
            6 => drop(object.insert("expect".into(), serde_json::json!({"stream": "party:vn/hanoi", "version": 0}))),
            7 => drop(object.insert("expect".into(), serde_json::json!({"stream": "nowhere", "version": 0}))),
            8 => drop(object["data"].as_object_mut().map(|data| data.insert("extra".into(), Value::Null))),
            _ => drop(object.insert("sources".into(), serde_json::json!([{"title": "A title", "url": "u"}]))),
        }
        submission
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_fast_parse_agrees_with_the_strict_parse(seed in any::<u64>(), changes in prop::collection::vec(any::<u8>(), 40)) {
            let history = History::generate(seed, 40);
            let batch = serde_json::to_string_pretty(&history).unwrap();
            let strict: Vec<Checked> = history.iter().map(|s| strictly(&s.to_string()).unwrap()).collect();
            prop_assert_eq!(Checked::parse_many(batch.as_bytes(), usize::MAX, 40).ok(), Some(strict));
            for (submission, change) in history.into_iter().zip(changes) {
                let compact = serde_json::to_string(&submission).unwrap();
                let pretty = serde_json::to_string_pretty(&submission).unwrap();
                let fast = Checked::parse_fast(&compact, 0);
                prop_assert!(fast.is_some(), "a good submission takes the fast path: {}", compact);
                prop_assert_eq!(&fast, &strictly(&compact));
                prop_assert_eq!(Checked::parse_fast(&pretty, 0), fast);
                let changed = serde_json::to_string(&changed(submission, change)).unwrap();
                prop_assert_eq!(Checked::parse_fast(&changed, 0), strictly(&changed), "{}", changed);
            }
        }
    }
}
