//! What validation needs to know about the ledger so far, asked through the
//! [`Known`] trait so that this crate stays pure: the store answers from its
//! indexes, tests answer from a map. Also what each record changes in that
//! knowledge ([`Effects`]): the entity it introduces, the streams it names.

use crate::data::{EventData, EventType};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of entity a record can introduce and later records refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    Party,
    Visit,
    Agreement,
    Pledge,
    Project,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Party => "party",
            EntityKind::Visit => "visit",
            EntityKind::Agreement => "agreement",
            EntityKind::Pledge => "pledge",
            EntityKind::Project => "project",
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        [EntityKind::Party, EntityKind::Visit, EntityKind::Agreement, EntityKind::Pledge, EntityKind::Project]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// An entity, written as its stream name: `project:justice-hq`. Every
/// stream is an entity's, so this is also how a stream is held.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    pub kind: EntityKind,
    /// Inline up to 24 bytes (most ids): no allocation of its own.
    pub id: CompactString,
}

impl EntityKey {
    pub fn new(kind: EntityKind, id: &str) -> EntityKey {
        EntityKey { kind, id: id.into() }
    }

    /// Parses a stream name (`kind:id`).
    pub fn parse(stream: &str) -> Option<EntityKey> {
        let (kind, id) = stream.split_once(':')?;
        Some(EntityKey { kind: EntityKind::parse(kind)?, id: id.into() })
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// What later records are checked against: a pledge's donor, recipient and
/// project; a project's beneficiary and funders. Empty for other kinds.
///
/// Serialized only into the knowledge checkpoint, a binary format that
/// cannot skip fields: no `skip_serializing_if` here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityAttrs {
    pub donor: Option<CompactString>,
    pub recipient: Option<CompactString>,
    pub project: Option<CompactString>,
    pub beneficiary: Option<CompactString>,
    pub funders: Vec<CompactString>,
}

/// The attributes of an entity that has none: what [`Known::entity`]
/// answers for a party, a visit or an agreement.
pub static NO_ATTRS: EntityAttrs =
    EntityAttrs { donor: None, recipient: None, project: None, beneficiary: None, funders: Vec::new() };

/// An event already in the ledger, as validation of a retraction and the
/// idempotency check see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEvent {
    pub seq: u64,
    pub event_type: EventType,
    pub retracted: bool,
    /// The streams the event named; a retraction of it names them too.
    pub streams: Vec<EntityKey>,
    /// [`crate::record::content_digest`] of its type, occurred, data, sources.
    pub content: crate::record::ContentDigest,
}

/// The ledger's knowledge, as validation asks for it.
pub trait Known {
    /// The attributes of the entity `kind` `id`, if it has been introduced
    /// ([`NO_ATTRS`] for one that has none).
    fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityAttrs>;
    fn event(&self, id: &str) -> Option<KnownEvent>;
    /// [`Known::event`], given the id's key too ([`crate::knowledge::id_key`],
    /// which the parse computed once).
    fn event_keyed(&self, id: &str, key: crate::knowledge::IdKey) -> Option<KnownEvent> {
        let _ = key;
        self.event(id)
    }
    /// How many records have named `stream` (0 for one never named).
    fn stream_version(&self, stream: &str) -> u64;
}

impl<T: Known + ?Sized> Known for &T {
    fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityAttrs> {
        (**self).entity(kind, id)
    }

    fn event(&self, id: &str) -> Option<KnownEvent> {
        (**self).event(id)
    }

    fn event_keyed(&self, id: &str, key: crate::knowledge::IdKey) -> Option<KnownEvent> {
        (**self).event_keyed(id, key)
    }

    fn stream_version(&self, stream: &str) -> u64 {
        (**self).stream_version(stream)
    }
}

/// What appending a record changes in the ledger's knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effects {
    pub introduces: Option<(EntityKey, EntityAttrs)>,
    /// The distinct streams whose version this record increments, sorted.
    pub streams: Vec<EntityKey>,
    /// The event id this record retracts.
    pub retracts: Option<CompactString>,
}

/// The entity a payload introduces, if any, with the attributes later
/// records are checked against.
pub fn introduction(data: &EventData) -> Option<(EntityKey, EntityAttrs)> {
    let key = |kind, id: &str| EntityKey::new(kind, id);
    match data {
        EventData::PartyRegistered(d) => Some((key(EntityKind::Party, &d.party), EntityAttrs::default())),
        EventData::VisitHeld(d) => Some((key(EntityKind::Visit, &d.visit), EntityAttrs::default())),
        EventData::AgreementSigned(d) => Some((key(EntityKind::Agreement, &d.agreement), EntityAttrs::default())),
        EventData::AidPledged(d) => Some((
            key(EntityKind::Pledge, &d.pledge),
            EntityAttrs {
                donor: Some(d.donor.clone()),
                recipient: Some(d.recipient.clone()),
                project: d.project.clone(),
                ..EntityAttrs::default()
            },
        )),
        EventData::ProjectLaunched(d) => Some((
            key(EntityKind::Project, &d.project),
            EntityAttrs {
                beneficiary: Some(d.beneficiary.clone()),
                funders: d.funders.clone(),
                ..EntityAttrs::default()
            },
        )),
        _ => None,
    }
}

/// The payload field that names an entity (`data.funders[1]`,
/// `data.provisions[0].parties[1]`), written out only when a rule it breaks
/// is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    name: &'static str,
    index: Option<usize>,
    /// A list inside the indexed item, and the index in it.
    within: Option<(&'static str, usize)>,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data.{}", self.name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        match self.within {
            Some((name, j)) => write!(f, ".{name}[{j}]"),
            None => Ok(()),
        }
    }
}

/// Every entity a payload refers to (and so requires to exist), with the
/// field that names it. The entity it introduces is not among them.
pub fn references(data: &EventData) -> Vec<(Field, EntityKey)> {
    use EntityKind::*;
    let mut refs: Vec<(Field, EntityKey)> = Vec::new();
    let mut at =
        |name, index, kind, id: &str| refs.push((Field { name, index, within: None }, EntityKey::new(kind, id)));
    match data {
        EventData::PartyRegistered(d) => {
            if let Some(within) = &d.within {
                at("within", None, Party, within);
            }
        }
        EventData::VisitHeld(d) => {
            at("delegation_of", None, Party, &d.delegation_of);
            at("host", None, Party, &d.host);
        }
        EventData::AgreementSigned(d) => {
            for (i, party) in d.parties.iter().enumerate() {
                at("parties", Some(i), Party, party);
            }
            for (i, provision) in d.provisions.iter().flatten().enumerate() {
                for (j, party) in provision.parties.iter().enumerate() {
                    let field = Field { name: "provisions", index: Some(i), within: Some(("parties", j)) };
                    refs.push((field, EntityKey::new(Party, party)));
                }
            }
        }
        EventData::AgreementAmended(d) => at("agreement", None, Agreement, &d.agreement),
        EventData::AgreementTerminated(d) => at("agreement", None, Agreement, &d.agreement),
        EventData::AidPledged(d) => {
            at("donor", None, Party, &d.donor);
            at("recipient", None, Party, &d.recipient);
            if let Some(project) = &d.project {
                at("project", None, Project, project);
            }
        }
        EventData::AidDelivered(d) => {
            at("donor", None, Party, &d.donor);
            at("recipient", None, Party, &d.recipient);
            if let Some(pledge) = &d.pledge {
                at("pledge", None, Pledge, pledge);
            }
            if let Some(project) = &d.project {
                at("project", None, Project, project);
            }
        }
        EventData::ProjectLaunched(d) => {
            at("beneficiary", None, Party, &d.beneficiary);
            for (i, funder) in d.funders.iter().enumerate() {
                at("funders", Some(i), Party, funder);
            }
            if let Some(pledge) = &d.pledge {
                at("pledge", None, Pledge, pledge);
            }
        }
        EventData::ProjectProgress(d) => at("project", None, Project, &d.project),
        EventData::ProjectCompleted(d) => at("project", None, Project, &d.project),
        EventData::AwardConferred(d) => {
            at("by", None, Party, &d.by);
            at("to", None, Party, &d.to);
        }
        EventData::ActivityHeld(d) => {
            for (i, party) in d.parties.iter().enumerate() {
                at("parties", Some(i), Party, party);
            }
        }
        EventData::EventRetracted(_) => {}
    }
    refs
}

/// The streams a payload names: every entity it refers to or introduces.
/// A retraction names its target's streams, which only the ledger knows, so
/// the caller passes them.
pub fn named_streams(data: &EventData, retraction_target_streams: Vec<EntityKey>) -> Vec<EntityKey> {
    let named = references(data).into_iter().map(|(_, key)| key).chain(introduction(data).map(|(key, _)| key));
    stream_keys(named, retraction_target_streams)
}

/// The streams a payload names by itself, as names (`party:vn/hanoi`),
/// sorted (a retraction's, which are its target's, only the ledger knows).
pub fn streams(data: &EventData) -> Vec<String> {
    let mut names: Vec<String> = named_streams(data, Vec::new()).iter().map(EntityKey::to_string).collect();
    names.sort_unstable();
    names
}

/// These entities' streams and these other streams, each once, sorted.
pub fn stream_keys(entities: impl Iterator<Item = EntityKey>, mut others: Vec<EntityKey>) -> Vec<EntityKey> {
    others.extend(entities);
    others.sort_unstable();
    others.dedup();
    others
}
