//! An independent oracle of the spec's view rules (section 5), over raw
//! JSON records: it shares no code with the projections, so the two can
//! only agree by both being right. Used by the projections' property tests
//! and by amity's CLI-level view tests.

#![allow(dead_code)]

use chrono::NaiveDate;
use events::{Currency, Edtf, Money, Record};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub struct Ledger<'a> {
    /// Records within `at_seq` that are not retractions and not retracted
    /// by a retraction within `at_seq`.
    visible: Vec<&'a Record>,
    as_of: NaiveDate,
}

fn first(record: &Record) -> NaiveDate {
    record.occurred.parse::<Edtf>().unwrap().first_day()
}

impl<'a> Ledger<'a> {
    pub fn new(records: &'a [Record], at_seq: u64, as_of: NaiveDate) -> Self {
        let within: Vec<&Record> = records.iter().filter(|r| r.seq <= at_seq).collect();
        let retracted: BTreeSet<&str> = within
            .iter()
            .filter(|r| r.event_type == "event.retracted")
            .map(|r| r.data["target"].as_str().unwrap())
            .collect();
        let visible = within
            .into_iter()
            .filter(|r| r.event_type != "event.retracted" && !retracted.contains(r.id.as_str()))
            .collect();
        Ledger { visible, as_of }
    }

    fn of_type(&self, t: &'static str) -> impl Iterator<Item = &'a Record> + '_ {
        self.visible.iter().copied().filter(move |r| r.event_type == t)
    }

    /// "X on or before D": the first day of X's occurred is on or before D.
    fn by_as_of(&self, t: &'static str, key: &'static str, id: &str) -> Vec<&'a Record> {
        let mut found: Vec<&Record> = self.of_type(t).filter(|r| r.data[key] == id && first(r) <= self.as_of).collect();
        found.sort_by_key(|r| (first(r), r.seq));
        found
    }

    pub fn agreements(&self) -> Value {
        let mut rows = BTreeMap::new();
        for signing in self.of_type("agreement.signed").filter(|r| first(r) <= self.as_of) {
            let id = signing.data["agreement"].as_str().unwrap();
            let amendments = self.by_as_of("agreement.amended", "agreement", id);
            let last_giving = |field: &str| {
                amendments.iter().rev().find_map(|a| a.data.get(field).cloned()).unwrap_or(signing.data[field].clone())
            };
            let effective = last_giving("effective");
            let span: Edtf = effective.as_str().unwrap().parse().unwrap();
            let terminated = !self.by_as_of("agreement.terminated", "agreement", id).is_empty();
            if span.contains(self.as_of) && !terminated {
                rows.insert(
                    id.to_string(),
                    json!({"agreement": id, "title": last_giving("title"), "kind": signing.data["kind"],
                        "level": signing.data["level"], "parties": signing.data["parties"],
                        "signed": signing.occurred, "effective": effective,
                        "provisions": signing.data.get("provisions").cloned().unwrap_or(json!([]))}),
                );
            }
        }
        Value::Array(rows.into_values().collect())
    }

    fn money_sum(records: &[&Record]) -> Value {
        let mut sums: BTreeMap<String, (Currency, u128)> = BTreeMap::new();
        for r in records {
            if let Some(amount) = r.data.get("amount") {
                let currency = Currency::from_code(amount["currency"].as_str().unwrap()).unwrap();
                let money = Money::parse(amount["amount"].as_str().unwrap(), currency).unwrap();
                sums.entry(currency.code().to_string()).or_insert((currency, 0)).1 += money.minor;
            }
        }
        Value::Array(
            sums.into_iter().map(|(code, (c, minor))| json!({"currency": code, "amount": c.format(minor)})).collect(),
        )
    }

    pub fn projects(&self) -> Value {
        let mut rows = BTreeMap::new();
        for launch in self.of_type("project.launched").filter(|r| first(r) <= self.as_of) {
            let id = launch.data["project"].as_str().unwrap();
            if !self.by_as_of("project.completed", "project", id).is_empty() {
                continue;
            }
            let reports = self.by_as_of("project.progress", "project", id);
            let last = reports.last();
            let percent = reports.iter().rev().find_map(|r| r.data.get("percent").cloned()).unwrap_or(Value::Null);
            rows.insert(
                id.to_string(),
                json!({"project": id, "name": launch.data["name"], "beneficiary": launch.data["beneficiary"],
                    "percent": percent,
                    "status": last.map_or(Value::Null, |r| r.data["status"].clone()),
                    "last_report": last.map_or(Value::Null, |r| json!(r.occurred)),
                    "pledged": Self::money_sum(&self.by_as_of("aid.pledged", "project", id)),
                    "delivered": Self::money_sum(&self.by_as_of("aid.delivered", "project", id))}),
            );
        }
        Value::Array(rows.into_values().collect())
    }

    pub fn aid(&self) -> Value {
        let year = |r: &Record| {
            let date: Edtf = r.occurred.parse().unwrap();
            match date.last_day() {
                Some(last) if last.format("%Y").to_string() == date.first_day().format("%Y").to_string() => {
                    json!(date.first_day().format("%Y").to_string().parse::<i64>().unwrap())
                }
                _ => json!("undated"),
            }
        };
        let sort_year = |y: &Value| y.as_i64().unwrap_or(i64::MAX);
        type MoneyKey = (i64, String, String, String);
        type ItemKey = (i64, String, String, String, String);
        let mut money: BTreeMap<MoneyKey, (Value, Currency, u128, u128)> = BTreeMap::new();
        let mut items: BTreeMap<ItemKey, (Value, u64, u64)> = BTreeMap::new();
        for r in self.of_type("aid.pledged").chain(self.of_type("aid.delivered")) {
            let pledged = r.event_type == "aid.pledged";
            let y = year(r);
            let donor = r.data["donor"].as_str().unwrap().to_string();
            let recipient = r.data["recipient"].as_str().unwrap().to_string();
            if let Some(amount) = r.data.get("amount") {
                let currency = Currency::from_code(amount["currency"].as_str().unwrap()).unwrap();
                let minor = Money::parse(amount["amount"].as_str().unwrap(), currency).unwrap().minor;
                let key = (sort_year(&y), donor.clone(), recipient.clone(), currency.code().to_string());
                let cell = money.entry(key).or_insert((y.clone(), currency, 0, 0));
                if pledged {
                    cell.2 += minor
                } else {
                    cell.3 += minor
                }
            }
            for item in r.data.get("items").and_then(Value::as_array).into_iter().flatten() {
                let key = (
                    sort_year(&y),
                    donor.clone(),
                    recipient.clone(),
                    item["item"].as_str().unwrap().to_string(),
                    item["unit"].as_str().unwrap().to_string(),
                );
                let cell = items.entry(key).or_insert((y.clone(), 0, 0));
                let quantity = item["quantity"].as_u64().unwrap();
                if pledged {
                    cell.1 += quantity
                } else {
                    cell.2 += quantity
                }
            }
        }
        json!({
            "money": money.into_iter().map(|((_, d, r, c), (y, cur, p, del))| json!({"year": y, "donor": d, "recipient": r,
                "currency": c, "pledged": cur.format(p), "delivered": cur.format(del)})).collect::<Vec<_>>(),
            "items": items.into_iter().map(|((_, d, r, i, u), (y, p, del))| json!({"year": y, "donor": d, "recipient": r,
                "item": i, "unit": u, "pledged": p, "delivered": del})).collect::<Vec<_>>(),
        })
    }

    pub fn visits(&self) -> Value {
        let mut visits: Vec<&Record> = self.of_type("visit.held").collect();
        visits.sort_by_key(|r| (first(r), r.seq));
        Value::Array(
            visits
                .into_iter()
                .map(|r| json!({"visit": r.data["visit"], "occurred": r.occurred, "delegation_of": r.data["delegation_of"],
                    "host": r.data["host"], "led_by": r.data["led_by"], "level": r.data.get("level").cloned().unwrap_or(Value::Null)}))
                .collect(),
        )
    }
}
