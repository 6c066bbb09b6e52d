//! The projections against a small, independent oracle of the spec's rules
//! (section 5), written over raw JSON records with none of the projections'
//! code, plus the fold's own properties: checkpoints, `at_seq` prefixes and
//! retractions.

#[path = "support/oracle.rs"]
mod oracle;

use chrono::NaiveDate;
use events::generate::{seal, History};
use events::Record;
use oracle::Ledger;
use projections::{Event, Fold, Views};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn arb_records(max_len: usize) -> impl Strategy<Value = Vec<Record>> {
    (any::<u64>(), 1..max_len).prop_map(|(seed, len)| seal(&History::generate(seed, len)))
}

fn arb_day() -> impl Strategy<Value = NaiveDate> {
    (1997i32..=2029, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn fold(records: &[Record]) -> Views {
    let mut views = Views::default();
    for record in records {
        views.apply(record);
    }
    views
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

fn check_against_oracle(records: &[Record], views: &Views, as_of: NaiveDate, at_seq: u64) -> Result<(), TestCaseError> {
    let [agreements, projects, aid, visits] = ours(views, as_of, Some(at_seq));
    let oracle = Ledger::new(records, at_seq, as_of);
    let day = as_of.format("%Y-%m-%d").to_string();
    prop_assert_eq!(&agreements["as_of"], &json!(day));
    prop_assert_eq!(&agreements["at_seq"], &json!(at_seq));
    prop_assert_eq!(&agreements["agreements"], &oracle.agreements(), "agreements as of {} at seq {}", day, at_seq);
    prop_assert_eq!(&projects["projects"], &oracle.projects(), "projects as of {} at seq {}", day, at_seq);
    let expected_aid = oracle.aid();
    prop_assert_eq!(&aid["money"], &expected_aid["money"], "aid money at seq {}", at_seq);
    prop_assert_eq!(&aid["items"], &expected_aid["items"], "aid items at seq {}", at_seq);
    prop_assert_eq!(&visits["visits"], &oracle.visits(), "visits at seq {}", at_seq);
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

    /// Views that folded every record but show only the first N (an
    /// import's records before it is durable) answer every query, the
    /// dashboard's too, as views that only ever folded N; showing the rest
    /// answers as the whole fold.
    #[test]
    fn hidden_records_are_invisible_until_shown(records in arb_records(300), cut in any::<prop::sample::Index>(), as_of in arb_day()) {
        let n = cut.index(records.len() + 1);
        let mut whole = fold(&records);
        let prefix = fold(&records[..n]);
        whole.show_up_to(n as u64);
        prop_assert_eq!(whole.shown(), n as u64);
        prop_assert_eq!(ours(&whole, as_of, None), ours(&prefix, as_of, None));
        prop_assert_eq!(ours(&whole, as_of, Some(records.len() as u64)), ours(&prefix, as_of, None));
        prop_assert_eq!(whole.activities(None, None), prefix.activities(None, None));
        prop_assert_eq!(whole.agreements_calendar(as_of, None, None), prefix.agreements_calendar(as_of, None, None));
        whole.show_up_to(records.len() as u64);
        prop_assert_eq!(whole, fold(&records));
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

    /// Folding in bulk, asking for each event's memory ahead of folding it
    /// (as the rebuild and the projector do), equals folding one by one.
    #[test]
    fn a_bulk_fold_with_prefetching_equals_one_by_one(records in arb_records(300), cut in any::<prop::sample::Index>()) {
        let events: Vec<(u64, Option<Event>)> = records.iter().map(|r| (r.seq, Event::decode(r))).collect();
        let k = cut.index(events.len() + 1);
        let mut bulk = Views::default();
        bulk.apply_all(&events[..k], |(seq, event)| (*seq, event.as_ref()));
        bulk.apply_all(&events[k..], |(seq, event)| (*seq, event.as_ref()));
        prop_assert_eq!(bulk, fold(&records));
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The dashboard's extra queries agree with the views: the records
    /// behind an aid row sum to that row, each in its year and currency; the
    /// calendar marks in force exactly the agreements the view lists.
    #[test]
    fn the_dashboards_queries_agree_with_the_views(records in arb_records(300), cut in any::<prop::sample::Index>(), as_of in arb_day()) {
        use projections::aid::{AidCell, AidOf};
        let at_seq = cut.index(records.len()) as u64 + 1;
        let views = fold(&records);
        for row in views.aid(Some(at_seq)).money {
            let cell = AidCell { year: row.year, donor: &row.donor, recipient: &row.recipient, of: AidOf::Money(&row.currency) };
            let seqs = views.aid_sources(Some(at_seq), &cell);
            prop_assert!(!seqs.is_empty(), "a row with no records: {:?}", row);
            let (mut pledged, mut delivered) = (0f64, 0f64);
            for seq in seqs {
                prop_assert!(seq <= at_seq);
                let record = &records[seq as usize - 1];
                prop_assert_eq!(record.data["amount"]["currency"].as_str(), Some(row.currency.as_str()));
                let amount: f64 = record.data["amount"]["amount"].as_str().unwrap().parse().unwrap();
                if record.event_type == "aid.pledged" { pledged += amount } else { delivered += amount }
            }
            let close = |a: f64, b: &str| (a - b.parse::<f64>().unwrap()).abs() <= 1e-6 * a.abs().max(1.0);
            prop_assert!(close(pledged, &row.pledged) && close(delivered, &row.delivered), "{:?}: {} / {}", row, pledged, delivered);
        }
        let listed: BTreeSet<String> = views.agreements(as_of, Some(at_seq)).agreements.into_iter().map(|a| a.agreement).collect();
        let marked: BTreeSet<String> = views.agreements_calendar(as_of, Some(at_seq), None).into_iter().filter(|r| r.in_force).map(|r| r.agreement).collect();
        prop_assert_eq!(listed, marked);
        // A party's calendar is the whole calendar's agreements it is a party to.
        let calendar = views.agreements_calendar(as_of, Some(at_seq), None);
        if let Some(party) = calendar.first().and_then(|row| row.parties.first()) {
            let expected: Vec<&str> = calendar.iter().filter(|r| r.parties.contains(party)).map(|r| r.agreement.as_str()).collect();
            let theirs = views.agreements_calendar(as_of, Some(at_seq), Some(party));
            prop_assert_eq!(theirs.iter().map(|r| r.agreement.as_str()).collect::<Vec<_>>(), expected);
        }
        // The same for the activities; a party nobody named is in neither.
        let activities = views.activities(Some(at_seq), None);
        if let Some(party) = activities.first().and_then(|row| row.parties.first()) {
            let expected: Vec<u64> = activities.iter().filter(|a| a.parties.contains(party)).map(|a| a.seq).collect();
            let theirs: Vec<u64> = views.activities(Some(at_seq), Some(party)).iter().map(|a| a.seq).collect();
            prop_assert_eq!(theirs, expected);
        }
        prop_assert!(views.agreements_calendar(as_of, Some(at_seq), Some("xx/nobody")).is_empty());
        prop_assert!(views.activities(Some(at_seq), Some("xx/nobody")).is_empty());
        // Each item row's records name that item, unit, donor and recipient.
        for row in views.aid(Some(at_seq)).items {
            let cell = AidCell { year: row.year, donor: &row.donor, recipient: &row.recipient, of: AidOf::Item(&row.item, &row.unit) };
            let seqs = views.aid_sources(Some(at_seq), &cell);
            prop_assert!(!seqs.is_empty(), "a row with no records: {:?}", row);
            for seq in seqs {
                let data = &records[seq as usize - 1].data;
                prop_assert_eq!((data["donor"].as_str(), data["recipient"].as_str()), (Some(row.donor.as_str()), Some(row.recipient.as_str())));
                let named = data["items"].as_array().into_iter().flatten().any(|i| i["item"] == row.item.as_str() && i["unit"] == row.unit.as_str());
                prop_assert!(named, "record {} does not name {:?}", seq, row);
            }
            let nobody = AidCell { donor: "xx/nobody", ..cell };
            prop_assert!(views.aid_sources(Some(at_seq), &nobody).is_empty());
        }
    }
}
