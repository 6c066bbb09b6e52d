//! The projections against a small, independent oracle of the spec's rules
//! (section 5), written over raw JSON records with none of the projections'
//! code, plus the fold's own properties: checkpoints, `at_seq` prefixes and
//! retractions.

use chrono::NaiveDate;
use events::generate::{seal, History};
use events::{Currency, Edtf, Money, Record};
use projections::{Fold, Views};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn arb_records(max_len: usize) -> impl Strategy<Value = Vec<Record>> {
    (any::<u64>(), 1..max_len).prop_map(|(seed, len)| seal(&History::generate(seed, len)))
}

fn arb_day() -> impl Strategy<Value = NaiveDate> {
    (1997i32..=2029, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn fold(records: &[Record]) -> Views {
    let mut views = Views::default();
    for record in records {
        views.apply(record);
    }
    views
}

// ---------------------------------------------------------------------------
// The oracle: the spec's words, applied to raw records.

struct Ledger<'a> {
    /// Records within `at_seq` that are not retractions and not retracted
    /// by a retraction within `at_seq`.
    visible: Vec<&'a Record>,
    as_of: NaiveDate,
}

fn first(record: &Record) -> NaiveDate {
    record.occurred.parse::<Edtf>().unwrap().first_day()
}

impl<'a> Ledger<'a> {
    fn new(records: &'a [Record], at_seq: u64, as_of: NaiveDate) -> Self {
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
        self.visible
            .iter()
            .copied()
            .filter(move |r| r.event_type == t)
    }

    /// "X on or before D": the first day of X's occurred is on or before D.
    fn by_as_of(&self, t: &'static str, key: &'static str, id: &str) -> Vec<&'a Record> {
        let mut found: Vec<&Record> = self
            .of_type(t)
            .filter(|r| r.data[key] == id && first(r) <= self.as_of)
            .collect();
        found.sort_by_key(|r| (first(r), r.seq));
        found
    }

    fn agreements(&self) -> Value {
        let mut rows = BTreeMap::new();
        for signing in self
            .of_type("agreement.signed")
            .filter(|r| first(r) <= self.as_of)
        {
            let id = signing.data["agreement"].as_str().unwrap();
            let amendments = self.by_as_of("agreement.amended", "agreement", id);
            let last_giving = |field: &str| {
                amendments
                    .iter()
                    .rev()
                    .find_map(|a| a.data.get(field).cloned())
                    .unwrap_or(signing.data[field].clone())
            };
            let effective = last_giving("effective");
            let span: Edtf = effective.as_str().unwrap().parse().unwrap();
            let terminated = !self
                .by_as_of("agreement.terminated", "agreement", id)
                .is_empty();
            if span.contains(self.as_of) && !terminated {
                rows.insert(
                    id.to_string(),
                    json!({"agreement": id, "title": last_giving("title"), "kind": signing.data["kind"],
                        "level": signing.data["level"], "parties": signing.data["parties"],
                        "signed": signing.occurred, "effective": effective}),
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
                sums.entry(currency.code().to_string())
                    .or_insert((currency, 0))
                    .1 += money.minor;
            }
        }
        Value::Array(
            sums.into_iter()
                .map(|(code, (c, minor))| json!({"currency": code, "amount": c.format(minor)}))
                .collect(),
        )
    }

    fn projects(&self) -> Value {
        let mut rows = BTreeMap::new();
        for launch in self
            .of_type("project.launched")
            .filter(|r| first(r) <= self.as_of)
        {
            let id = launch.data["project"].as_str().unwrap();
            if !self.by_as_of("project.completed", "project", id).is_empty() {
                continue;
            }
            let reports = self.by_as_of("project.progress", "project", id);
            let last = reports.last();
            let percent = reports
                .iter()
                .rev()
                .find_map(|r| r.data.get("percent").cloned())
                .unwrap_or(Value::Null);
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

    fn aid(&self) -> Value {
        let year = |r: &Record| {
            let date: Edtf = r.occurred.parse().unwrap();
            match date.last_day() {
                Some(last)
                    if last.format("%Y").to_string()
                        == date.first_day().format("%Y").to_string() =>
                {
                    json!(date
                        .first_day()
                        .format("%Y")
                        .to_string()
                        .parse::<i64>()
                        .unwrap())
                }
                _ => json!("undated"),
            }
        };
        let sort_year = |y: &Value| y.as_i64().unwrap_or(i64::MAX);
        type MoneyKey = (i64, String, String, String);
        let mut money: BTreeMap<MoneyKey, (Value, Currency, u128, u128)> = BTreeMap::new();
        let mut items: BTreeMap<(i64, String, String, String, String), (Value, u64, u64)> =
            BTreeMap::new();
        for r in self
            .of_type("aid.pledged")
            .chain(self.of_type("aid.delivered"))
        {
            let pledged = r.event_type == "aid.pledged";
            let y = year(r);
            let donor = r.data["donor"].as_str().unwrap().to_string();
            let recipient = r.data["recipient"].as_str().unwrap().to_string();
            if let Some(amount) = r.data.get("amount") {
                let currency = Currency::from_code(amount["currency"].as_str().unwrap()).unwrap();
                let minor = Money::parse(amount["amount"].as_str().unwrap(), currency)
                    .unwrap()
                    .minor;
                let key = (
                    sort_year(&y),
                    donor.clone(),
                    recipient.clone(),
                    currency.code().to_string(),
                );
                let cell = money.entry(key).or_insert((y.clone(), currency, 0, 0));
                if pledged {
                    cell.2 += minor
                } else {
                    cell.3 += minor
                }
            }
            for item in r
                .data
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
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

    fn visits(&self) -> Value {
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

/// All four views from the projections, as JSON.
fn ours(views: &Views, as_of: NaiveDate, at_seq: Option<u64>) -> [Value; 4] {
    [
        serde_json::to_value(views.agreements(as_of, at_seq)).unwrap(),
        serde_json::to_value(views.projects(as_of, at_seq)).unwrap(),
        serde_json::to_value(views.aid(at_seq)).unwrap(),
        serde_json::to_value(views.visits(at_seq)).unwrap(),
    ]
}

fn check_against_oracle(
    records: &[Record],
    views: &Views,
    as_of: NaiveDate,
    at_seq: u64,
) -> Result<(), TestCaseError> {
    let [agreements, projects, aid, visits] = ours(views, as_of, Some(at_seq));
    let oracle = Ledger::new(records, at_seq, as_of);
    let day = as_of.format("%Y-%m-%d").to_string();
    prop_assert_eq!(&agreements["as_of"], &json!(day));
    prop_assert_eq!(&agreements["at_seq"], &json!(at_seq));
    prop_assert_eq!(
        &agreements["agreements"],
        &oracle.agreements(),
        "agreements as of {} at seq {}",
        day,
        at_seq
    );
    prop_assert_eq!(
        &projects["projects"],
        &oracle.projects(),
        "projects as of {} at seq {}",
        day,
        at_seq
    );
    let expected_aid = oracle.aid();
    prop_assert_eq!(
        &aid["money"],
        &expected_aid["money"],
        "aid money at seq {}",
        at_seq
    );
    prop_assert_eq!(
        &aid["items"],
        &expected_aid["items"],
        "aid items at seq {}",
        at_seq
    );
    prop_assert_eq!(
        &visits["visits"],
        &oracle.visits(),
        "visits at seq {}",
        at_seq
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every view, at several valid-time days and transaction-time cut-offs,
    /// equals the oracle's reading of the spec.
    #[test]
    fn views_match_the_oracle(records in arb_records(400), days in prop::collection::vec(arb_day(), 4), cuts in prop::collection::vec(any::<prop::sample::Index>(), 3)) {
        let views = fold(&records);
        let len = records.len() as u64;
        let mut at_seqs: Vec<u64> = cuts.iter().map(|c| c.index(records.len()) as u64 + 1).collect();
        at_seqs.push(len);
        for at_seq in at_seqs {
            for as_of in &days {
                check_against_oracle(&records, &views, *as_of, at_seq)?;
            }
        }
    }

    /// `at_seq N` equals the views of a ledger that only ever received the
    /// first N records.
    #[test]
    fn at_seq_equals_a_prefix(records in arb_records(300), cut in any::<prop::sample::Index>(), as_of in arb_day()) {
        let n = cut.index(records.len()) + 1;
        let whole = fold(&records);
        let prefix = fold(&records[..n]);
        prop_assert_eq!(ours(&whole, as_of, Some(n as u64)), ours(&prefix, as_of, None));
    }

    /// A checkpoint after k records (serialized and read back), plus folding
    /// the rest, equals folding everything.
    #[test]
    fn checkpoint_then_the_rest_equals_a_full_fold(records in arb_records(300), cut in any::<prop::sample::Index>()) {
        let k = cut.index(records.len() + 1);
        let checkpoint = serde_json::to_vec(&fold(&records[..k])).unwrap();
        let mut resumed: Views = serde_json::from_slice(&checkpoint).unwrap();
        for record in &records[k..] {
            resumed.apply(record);
        }
        prop_assert_eq!(resumed, fold(&records));
    }

    /// Retracting a record gives the views of the history without it.
    #[test]
    fn a_retraction_equals_never_recording(submissions in (any::<u64>(), 2..200usize).prop_map(|(s, n)| History::generate(s, n)), pick in any::<prop::sample::Index>(), as_of in arb_day()) {
        let records = seal(&submissions);
        let targeted: BTreeSet<&str> = records.iter().filter(|r| r.event_type == "event.retracted")
            .map(|r| r.data["target"].as_str().unwrap()).collect();
        let candidates: Vec<usize> = (0..records.len())
            .filter(|i| records[*i].event_type != "event.retracted" && !targeted.contains(records[*i].id.as_str()))
            .collect();
        prop_assume!(!candidates.is_empty());
        let victim = candidates[pick.index(candidates.len())];
        let mut with_retraction = submissions.clone();
        with_retraction.push(json!({"type": "event.retracted", "occurred": "2026",
            "data": {"target": records[victim].id, "reason": "test"}}));
        let retracted = fold(&seal(&with_retraction));
        let without: Vec<Record> = records.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, r)| r.clone()).collect();
        let never = fold(&without);
        let strip = |mut views: [Value; 4]| {
            for view in &mut views {
                view.as_object_mut().unwrap().remove("at_seq");
            }
            views
        };
        prop_assert_eq!(strip(ours(&retracted, as_of, None)), strip(ours(&never, as_of, None)));
    }
}

#[test]
fn undated_aid_sorts_last_and_totals_keep_every_minor_unit() {
    let parties = [
        json!({"type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN"}}),
        json!({"type": "party.registered", "occurred": "2022", "data": {"party": "la/vientiane", "name": "Viêng Chăn", "kind": "city", "country": "LA"}}),
    ];
    let aid = |occurred: &str, amount: &str| {
        json!({"type": "aid.delivered", "occurred": occurred, "data": {"donor": "vn/hanoi", "recipient": "la/vientiane",
            "purpose": "covid-19", "amount": {"amount": amount, "currency": "USD"}}})
    };
    let mut submissions = parties.to_vec();
    submissions.extend([
        aid("2020/2022-08", "0.01"),
        aid("2021", "0.01"),
        aid("2021-05", "100000"),
        aid("2020/2022-08", "0.02"),
    ]);
    let view = serde_json::to_value(fold(&seal(&submissions)).aid(None)).unwrap();
    assert_eq!(
        view["money"],
        json!([
            {"year": 2021, "donor": "vn/hanoi", "recipient": "la/vientiane", "currency": "USD", "pledged": "0.00", "delivered": "100000.01"},
            {"year": "undated", "donor": "vn/hanoi", "recipient": "la/vientiane", "currency": "USD", "pledged": "0.00", "delivered": "0.03"},
        ])
    );
}
