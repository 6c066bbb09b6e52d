//! Aid per year: pledged and delivered totals per (year, donor, recipient,
//! currency) for money and per (year, donor, recipient, item, unit) for
//! items, over all of valid time. `year` is the calendar year when
//! `occurred` lies inside one year, else `"undated"` (sorted last).
//! Totals are exact: minor units summed in `u128`, never converted.

use crate::projects::money;
use crate::strings::{Strings, Sym};
use crate::{Event, Minor, Retractions};
use events::{Currency, EventData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Party {
    donor: Sym,
    recipient: Sym,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MoneyFact {
    seq: u64,
    minor: Minor,
    year: Option<i32>,
    parties: Party,
    currency: Currency,
    pledged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ItemFact {
    seq: u64,
    quantity: u64,
    year: Option<i32>,
    parties: Party,
    item: Sym,
    unit: Sym,
    pledged: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aid {
    money: Vec<MoneyFact>,
    items: Vec<ItemFact>,
}

/// A year, or `"undated"` for aid whose date spans years. Sorts undated last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Year {
    Year(i32),
    Undated,
}

/// `2021` or `"undated"` in JSON; an `Option<i32>` in binary formats (the
/// store's checkpoints), which cannot ask what comes next.
impl Serialize for Year {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return self.year().serialize(serializer);
        }
        match self {
            Year::Year(year) => serializer.serialize_i32(*year),
            Year::Undated => serializer.serialize_str("undated"),
        }
    }
}

impl<'de> Deserialize<'de> for Year {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            return Option::<i32>::deserialize(deserializer).map(Year::from);
        }
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) if s == "undated" => Ok(Year::Undated),
            serde_json::Value::Number(n) => n
                .as_i64()
                .and_then(|y| i32::try_from(y).ok())
                .map(Year::Year)
                .ok_or_else(|| serde::de::Error::custom("a year")),
            _ => Err(serde::de::Error::custom("a year or \"undated\"")),
        }
    }
}

impl Year {
    fn year(self) -> Option<i32> {
        match self {
            Year::Year(year) => Some(year),
            Year::Undated => None,
        }
    }
}

impl From<Option<i32>> for Year {
    fn from(year: Option<i32>) -> Year {
        year.map_or(Year::Undated, Year::Year)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyRow {
    pub year: Year,
    pub donor: String,
    pub recipient: String,
    pub currency: String,
    pub pledged: String,
    pub delivered: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRow {
    pub year: Year,
    pub donor: String,
    pub recipient: String,
    pub item: String,
    pub unit: String,
    pub pledged: u64,
    pub delivered: u64,
}

/// One cell of the aid view, to ask which records it sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AidCell<'a> {
    pub year: Year,
    pub donor: &'a str,
    pub recipient: &'a str,
    pub of: AidOf<'a>,
}

/// A currency's money row, or an item's row (name, unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AidOf<'a> {
    Money(&'a str),
    Item(&'a str, &'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AidView {
    pub at_seq: u64,
    pub money: Vec<MoneyRow>,
    pub items: Vec<ItemRow>,
}

impl AidView {
    /// Only the aid `party` gave or received (by its exact id); all of them for `None`.
    pub fn naming(mut self, party: Option<&str>) -> Self {
        let Some(party) = party else { return self };
        self.money.retain(|m| m.donor == party || m.recipient == party);
        self.items.retain(|i| i.donor == party || i.recipient == party);
        self
    }
}

impl Aid {
    pub(crate) fn apply(&mut self, event: &Event, strings: &mut Strings) -> bool {
        let (pledged, donor, recipient, amount, items) = match &event.data {
            EventData::AidPledged(d) => (true, &d.donor, &d.recipient, &d.amount, &d.items),
            EventData::AidDelivered(d) => (false, &d.donor, &d.recipient, &d.amount, &d.items),
            _ => return false,
        };
        let year = event.when.single_year();
        let parties = Party { donor: strings.intern(donor), recipient: strings.intern(recipient) };
        if let Some(money) = amount.as_ref().and_then(money) {
            self.money.push(MoneyFact {
                seq: event.seq,
                minor: money.minor.into(),
                year,
                parties,
                currency: money.currency,
                pledged,
            });
        }
        for item in items.iter().flatten() {
            self.items.push(ItemFact {
                seq: event.seq,
                quantity: item.quantity.max(0) as u64,
                year,
                parties,
                item: strings.intern(&item.item),
                unit: strings.intern(&item.unit),
                pledged,
            });
        }
        true
    }

    /// The seqs of the records behind one cell of the view: a money row
    /// (`AidOf::Money`) or an item's row (`AidOf::Item`).
    pub(crate) fn sources(
        &self,
        at_seq: u64,
        retractions: &Retractions,
        strings: &Strings,
        row: &AidCell<'_>,
    ) -> Vec<u64> {
        // A text never interned names no fact.
        let (Some(donor), Some(recipient)) = (strings.find(row.donor), strings.find(row.recipient)) else {
            return Vec::new();
        };
        let parties = Party { donor, recipient };
        let mut seqs: Vec<u64> = match row.of {
            AidOf::Money(currency) => self
                .money
                .iter()
                .filter(|f| Year::from(f.year) == row.year && f.parties == parties && f.currency.code() == currency)
                .filter(|f| retractions.visible(f.seq, at_seq))
                .map(|f| f.seq)
                .collect(),
            AidOf::Item(item, unit) => {
                let (Some(item), Some(unit)) = (strings.find(item), strings.find(unit)) else {
                    return Vec::new();
                };
                self.items
                    .iter()
                    .filter(|f| {
                        Year::from(f.year) == row.year && f.parties == parties && f.item == item && f.unit == unit
                    })
                    .filter(|f| retractions.visible(f.seq, at_seq))
                    .map(|f| f.seq)
                    .collect()
            }
        };
        seqs.dedup();
        seqs
    }

    pub(crate) fn query(&self, at_seq: u64, retractions: &Retractions, strings: &Strings) -> AidView {
        type Cell<'a> = (Year, &'a str, &'a str, &'a str, &'a str);
        let text = |sym: Sym| strings.get(sym);
        let mut money: BTreeMap<(Year, &str, &str, Currency), (u128, u128)> = BTreeMap::new();
        for fact in self.money.iter().filter(|f| retractions.visible(f.seq, at_seq)) {
            let key = (fact.year.into(), text(fact.parties.donor), text(fact.parties.recipient), fact.currency);
            let cell = money.entry(key).or_default();
            if fact.pledged {
                cell.0 += fact.minor.get();
            } else {
                cell.1 += fact.minor.get();
            }
        }
        let mut items: BTreeMap<Cell<'_>, (u64, u64)> = BTreeMap::new();
        for fact in self.items.iter().filter(|f| retractions.visible(f.seq, at_seq)) {
            let key = (
                fact.year.into(),
                text(fact.parties.donor),
                text(fact.parties.recipient),
                text(fact.item),
                text(fact.unit),
            );
            let cell = items.entry(key).or_default();
            if fact.pledged {
                cell.0 += fact.quantity;
            } else {
                cell.1 += fact.quantity;
            }
        }
        AidView {
            at_seq,
            money: money
                .into_iter()
                .map(|((year, donor, recipient, currency), (pledged, delivered))| MoneyRow {
                    year,
                    donor: donor.to_string(),
                    recipient: recipient.to_string(),
                    currency: currency.code().to_string(),
                    pledged: currency.format(pledged),
                    delivered: currency.format(delivered),
                })
                .collect(),
            items: items
                .into_iter()
                .map(|((year, donor, recipient, item, unit), (pledged, delivered))| ItemRow {
                    year,
                    donor: donor.to_string(),
                    recipient: recipient.to_string(),
                    item: item.to_string(),
                    unit: unit.to_string(),
                    pledged,
                    delivered,
                })
                .collect(),
        }
    }
}
