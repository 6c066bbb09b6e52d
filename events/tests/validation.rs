//! Every validation rule: a valid case and a broken one, through one `check`.
//! The ledger's state is a small fixed map (two capitals, a project funded by
//! Hanoi for Vientiane, its pledge, an agreement, a few events).

use events::known::EntityAttrs;
use events::{decide, Checked, Decision, EntityKey, EntityKind, EventType, Known, KnownEvent};
use serde_json::{json, Value};
use std::collections::HashMap;

struct Fixture {
    entities: HashMap<EntityKey, EntityAttrs>,
    events: HashMap<String, KnownEvent>,
    streams: HashMap<String, u64>,
}

impl Known for Fixture {
    fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityAttrs> {
        self.entities.get(&EntityKey::new(kind, id))
    }
    fn event(&self, id: &str) -> Option<KnownEvent> {
        self.events.get(id).cloned()
    }
    fn stream_version(&self, stream: &str) -> u64 {
        self.streams.get(stream).copied().unwrap_or(0)
    }
}

fn fixture() -> Fixture {
    let mut entities = HashMap::new();
    for party in ["vn", "la", "vn/hanoi", "la/vientiane", "la/vientiane/justice-dept"] {
        entities.insert(EntityKey::new(EntityKind::Party, party), EntityAttrs::default());
    }
    entities.insert(EntityKey::new(EntityKind::Agreement, "minutes-2022"), EntityAttrs::default());
    entities.insert(
        EntityKey::new(EntityKind::Project, "justice-hq"),
        EntityAttrs {
            beneficiary: Some("la/vientiane".into()),
            funders: vec!["vn/hanoi".into()],
            ..EntityAttrs::default()
        },
    );
    entities.insert(
        EntityKey::new(EntityKind::Pledge, "pledge-3m"),
        EntityAttrs {
            donor: Some("vn/hanoi".into()),
            recipient: Some("la/vientiane".into()),
            project: Some("justice-hq".into()),
            ..EntityAttrs::default()
        },
    );
    entities.insert(
        EntityKey::new(EntityKind::Pledge, "pledge-free"),
        EntityAttrs {
            donor: Some("vn/hanoi".into()),
            recipient: Some("la/vientiane".into()),
            ..EntityAttrs::default()
        },
    );
    let content = Checked::parse(&serde_json::to_vec(&ev_1()).unwrap()).unwrap().content_digest();
    let event = |seq, event_type, retracted| KnownEvent {
        seq,
        event_type,
        retracted,
        streams: vec![EntityKey::new(EntityKind::Party, "vn")],
        content,
    };
    let mut events = HashMap::new();
    events.insert("ev-1".to_string(), event(1, EventType::PartyRegistered, false));
    events.insert("ev-gone".to_string(), event(2, EventType::AidDelivered, true));
    events.insert("ev-retraction".to_string(), event(3, EventType::EventRetracted, false));
    let streams = HashMap::from([("project:justice-hq".to_string(), 2)]);
    Fixture { entities, events, streams }
}

/// Parses `submission` and decides it against the fixture, as the committer
/// and an import do. `Ok(())` expects it new and valid;
/// `Err((field, fragment))` expects an error on `field` whose rule contains
/// `fragment` (other errors may accompany it). A conflict is reported as
/// field `conflict` and an idempotent re-send as field `existing`, so the
/// same table covers them.
fn check(submission: Value, expected: Result<(), (&str, &str)>) {
    let bytes = serde_json::to_vec(&submission).unwrap();
    check_bytes(&bytes, expected);
}

fn check_bytes(bytes: &[u8], expected: Result<(), (&str, &str)>) {
    let result = Checked::parse(bytes).map(|checked| decide(&fixture(), checked));
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
    let errors = match result {
        Ok(Decision::New(_)) => Vec::new(),
        Ok(Decision::Rejected(rejection)) | Err(rejection) => rejection.errors,
        Ok(Decision::Conflict(message)) => vec![events::FieldError::new("conflict", message)],
        Ok(Decision::Existing(seq)) => vec![events::FieldError::new("existing", format!("seq {seq}"))],
    };
    match expected {
        Ok(()) => assert!(errors.is_empty(), "{shown}\nwanted it appended, got {errors:?}"),
        Err((field, fragment)) => assert!(
            errors.iter().any(|e| e.field == field && e.rule.contains(fragment)),
            "{shown}\nwanted `{field}: …{fragment}…`, got: {errors:?}"
        ),
    }
}

fn party(data: Value) -> Value {
    json!({"type": "party.registered", "occurred": "2022", "data": data})
}

fn with(event_type: &str, occurred: &str, data: Value) -> Value {
    json!({"type": event_type, "occurred": occurred, "data": data})
}

fn pledge(extra: Value) -> Value {
    let mut data =
        json!({"pledge": "p-new", "donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "headquarters"});
    merge(&mut data, extra);
    with("aid.pledged", "2022-08", data)
}

fn delivery(extra: Value) -> Value {
    let mut data = json!({"donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "covid-19"});
    merge(&mut data, extra);
    with("aid.delivered", "2020/2022-08", data)
}

fn merge(data: &mut Value, extra: Value) {
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            data.as_object_mut().unwrap().remove(key);
        } else {
            data[key] = value.clone();
        }
    }
}

#[test]
fn envelope() {
    let ok = party(json!({"party": "vn/hcmc", "name": "TP HCM", "kind": "city", "country": "VN"}));
    check(ok.clone(), Ok(()));
    let mut with_id = ok.clone();
    with_id["id"] = json!("ev-2022.hcm:registered_1");
    check(with_id, Ok(()));
    for (field, value, fragment) in [
        ("id", json!(""), "1 to 128"),
        ("id", json!("x".repeat(129)), "1 to 128"),
        ("id", json!("has space"), "not allowed"),
        ("id", json!("ý"), "not allowed"),
        ("id", json!(7), "must be a string"),
        ("seq", json!(4), "set by the ledger"),
        ("hash", json!("00"), "set by the ledger"),
        ("prev", json!("00"), "set by the ledger"),
        ("recorded_at", json!("2026"), "set by the ledger"),
        ("colour", json!("red"), "not a field of a submission"),
        ("type", json!("party.deleted"), "not an event type"),
        ("occurred", json!("2023-02-30"), "not a day of the calendar"),
        ("occurred", json!("2023-13"), "no month 13"),
        ("occurred", json!("Aug 2022"), "is not YYYY"),
        ("occurred", json!(2022), "must be a date string"),
        ("expect.stream", json!({"stream": "country:vn", "version": 1}), "must be `party:`"),
        ("expect.version", json!({"stream": "party:vn", "version": -1}), "invalid value"),
        ("sources[0]", json!([{"url": "x"}]), "missing field `title`"),
        ("sources[0].published", json!([{"title": "t", "published": "2022-02-30"}]), "not a day"),
        ("sources[0].lang", json!([{"title": "t", "lang": "vi vn"}]), "BCP 47"),
        ("sources[0].author", json!([{"title": "t", "author": "x"}]), "unknown field `author`"),
        ("sources", json!({"title": "t"}), "must be a list"),
    ] {
        let mut submission = ok.clone();
        let key = field.split(['.', '[']).next().unwrap();
        submission[key] = value;
        check(submission, Err((field, fragment)));
    }
    let mut missing = ok.clone();
    missing.as_object_mut().unwrap().remove("occurred");
    check(missing, Err(("occurred", "is required")));
    let mut missing = ok;
    missing.as_object_mut().unwrap().remove("data");
    check(missing, Err(("data", "is required")));
}

#[test]
fn json_itself() {
    let ok = br#"{"type":"party.registered","occurred":"2022","data":{"party":"vn/hue","name":"Hue","kind":"city","country":"VN"}}"#;
    check_bytes(ok, Ok(()));
    check_bytes(&ok[..40], Err(("occurred", "EOF while parsing")));
    check_bytes(&ok[..ok.len() - 1], Err(("submission", "EOF while parsing")));
    check_bytes(b"[1,2]", Err(("submission", "must be a JSON object")));
    check_bytes(b"", Err(("submission", "not valid JSON")));
    check_bytes(b"{\"type\":\"party.registered\"} trailing", Err(("submission", "not valid JSON")));
    let mut invalid_utf8 = ok.to_vec();
    invalid_utf8[95] = 0xff;
    check_bytes(&invalid_utf8, Err(("submission", "not valid UTF-8")));
    check_bytes(
        br#"{"type":"party.registered","type":"visit.held","occurred":"2022","data":{}}"#,
        Err(("submission", "appears twice")),
    );
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    check_bytes(
        format!(r#"{{"type":"x","occurred":"2022","data":{deep}}}"#).as_bytes(),
        Err((&format!("data{}", "[0]".repeat(15)), "nested deeper")),
    );
    check_bytes(br#"{"type":"x","occurred":"2022","data":{"n":1.5}}"#, Err(("data.n", "is a float")));
    check_bytes(br#"{"type":"x","occurred":"2022","data":{"n":1e3}}"#, Err(("data.n", "is a float")));
    check_bytes(br#"{"type":"x","occurred":"2022","data":{"n":9007199254740992}}"#, Err(("data.n", "outside")));
    let huge = format!(r#"{{"type":"x","occurred":"2022","data":{{"s":"{}"}}}}"#, "a".repeat(70_000));
    check_bytes(huge.as_bytes(), Err(("submission", "more than the")));
}

#[test]
fn party_registered() {
    let base = json!({"party": "vn/hcmc", "name": "TP Hồ Chí Minh", "kind": "city", "country": "VN"});
    check(party(base.clone()), Ok(()));
    let cases = [
        (json!({"within": "vn"}), Ok(())),
        (json!({"name_en": "Ho Chi Minh City"}), Ok(())),
        (json!({"party": "VN/HCMC"}), Err(("data.party", "not a party id"))),
        (json!({"party": "vn//hcmc"}), Err(("data.party", "not a party id"))),
        (json!({"party": "vn/-hcmc"}), Err(("data.party", "not a party id"))),
        (json!({"party": "vn/hanoi"}), Err(("data.party", "already exists"))),
        (json!({"name": "  "}), Err(("data.name", "must not be empty"))),
        (json!({"name": "x".repeat(513)}), Err(("data.name", "longer than 512"))),
        (json!({"kind": "town"}), Err(("data.kind", "unknown variant `town`"))),
        (json!({"country": "XX"}), Err(("data.country", "not an ISO 3166-1"))),
        (json!({"country": "vn"}), Err(("data.country", "not an ISO 3166-1"))),
        (json!({"within": "vn/saigon"}), Err(("data.within", "not in the ledger"))),
        (json!({"within": "vn/hcmc"}), Err(("data.within", "within itself"))),
        (json!({"party": null}), Err(("data.party", "is required"))),
        (json!({"colour": "red"}), Err(("data.colour", "unknown field `colour`"))),
    ];
    for (extra, expected) in cases {
        let mut data = base.clone();
        merge(&mut data, extra);
        check(party(data), expected);
    }
}

#[test]
fn visit_held() {
    let base = json!({"visit": "visit-2023-11", "delegation_of": "vn/hanoi", "host": "la/vientiane",
        "led_by": {"name": "Đinh Tiến Dũng", "title": "Bí thư Thành ủy"}});
    let cases = [
        (json!({}), Ok(())),
        (json!({"level": "high", "members": [{"name": "A"}], "counterparts": [{"name": "B", "title": "C"}]}), Ok(())),
        (json!({"level": "royal"}), Err(("data.level", "unknown variant"))),
        (json!({"led_by": {"name": ""}}), Err(("data.led_by.name", "must not be empty"))),
        (json!({"led_by": {"name": "A", "party": "vn"}}), Err(("data.led_by.party", "unknown field `party`"))),
        (json!({"members": [{"title": "x"}]}), Err(("data.members[0].name", "is required"))),
        (json!({"host": "la/luang-prabang"}), Err(("data.host", "not in the ledger"))),
        (json!({"visit": "visit 1"}), Err(("data.visit", "not allowed"))),
    ];
    for (extra, expected) in cases {
        let mut data = base.clone();
        merge(&mut data, extra);
        check(with("visit.held", "2023-11", data), expected);
    }
}

#[test]
fn agreements() {
    let base = json!({"agreement": "minutes-2022-2025", "title": "Biên bản hợp tác", "kind": "minutes",
        "level": "city", "parties": ["vn/hanoi", "la/vientiane"], "effective": "2022/2025"});
    let cases = [
        (json!({}), Ok(())),
        (json!({"signatories": [{"name": "A", "party": "vn/hanoi"}], "fields": ["education"]}), Ok(())),
        (json!({"effective": "2022/.."}), Ok(())),
        (json!({"parties": ["vn/hanoi"]}), Err(("data.parties", "needs at least 2"))),
        (json!({"parties": ["vn/hanoi", "vn/hanoi"]}), Err(("data.parties[1]", "listed twice"))),
        (json!({"parties": ["vn/hanoi", "la/pakse"]}), Err(("data.parties[1]", "not in the ledger"))),
        (json!({"signatories": [{"name": "A", "party": "vn"}]}), Err(("data.signatories[0].party", "not one of"))),
        (json!({"signatories": [{"name": "A"}]}), Err(("data.signatories[0].party", "is required"))),
        (json!({"effective": "2025/2022"}), Err(("data.effective", "ends before it starts"))),
        (json!({"kind": "pact"}), Err(("data.kind", "unknown variant"))),
        (json!({"level": "global"}), Err(("data.level", "unknown variant"))),
        (json!({"agreement": "minutes-2022"}), Err(("data.agreement", "already exists"))),
        (json!({"fields": [""]}), Err(("data.fields[0]", "must not be empty"))),
        (
            json!({"provisions": [{"subject": "scholarships", "parties": ["vn/hanoi", "la/vientiane/justice-dept"]}]}),
            Ok(()),
        ),
        (json!({"provisions": []}), Ok(())),
        (
            json!({"provisions": [{"subject": "", "parties": ["vn", "la"]}]}),
            Err(("data.provisions[0].subject", "must not be empty")),
        ),
        (
            json!({"provisions": [{"subject": "s", "parties": ["vn"]}]}),
            Err(("data.provisions[0].parties", "needs at least 2")),
        ),
        (
            json!({"provisions": [{"subject": "s", "parties": ["vn", "la"]}, {"subject": "t", "parties": ["vn", "la/pakse"]}]}),
            Err(("data.provisions[1].parties[1]", "not in the ledger")),
        ),
        (
            json!({"provisions": [{"subject": "s", "parties": ["vn", "la"], "kind": "mou"}]}),
            Err(("data.provisions[0].kind", "unknown field")),
        ),
        (json!({"provisions": [{"parties": ["vn", "la"]}]}), Err(("data.provisions[0].subject", "is required"))),
    ];
    for (extra, expected) in cases {
        let mut data = base.clone();
        merge(&mut data, extra);
        check(with("agreement.signed", "2022-04-04", data), expected);
    }
    check(with("agreement.amended", "2023", json!({"agreement": "minutes-2022", "effective": "2022/2026"})), Ok(()));
    check(
        with("agreement.amended", "2023", json!({"agreement": "minutes-2022", "effective": "2022-13"})),
        Err(("data.effective", "no month 13")),
    );
    check(
        with("agreement.amended", "2023", json!({"agreement": "nope"})),
        Err(("data.agreement", "not in the ledger")),
    );
    check(with("agreement.terminated", "2024", json!({"agreement": "minutes-2022", "reason": "replaced"})), Ok(()));
    check(
        with("agreement.terminated", "2024", json!({"agreement": "minutes-1998"})),
        Err(("data.agreement", "not in the ledger")),
    );
}

#[test]
fn aid() {
    let usd = |amount: &str| json!({"amount": {"amount": amount, "currency": "USD"}});
    for (submission, expected) in [
        (pledge(usd("3000000")), Ok(())),
        (pledge(usd("3000000.00")), Ok(())),
        (pledge(json!({"items": [{"item": "masks", "quantity": 30000, "unit": "pcs"}]})), Ok(())),
        (pledge(json!({})), Err(("data", "at least one of `amount` and `items`"))),
        (pledge(usd("3000000.001")), Err(("data.amount.amount", "more than 2 decimals for USD"))),
        (pledge(usd("-5")), Err(("data.amount.amount", "must not be negative"))),
        (pledge(usd("3e6")), Err(("data.amount.amount", "not a plain decimal"))),
        (
            pledge(json!({"amount": {"amount": 3000000, "currency": "USD"}})),
            Err(("data.amount.amount", "invalid type")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "ABC"}})),
            Err(("data.amount.currency", "not an ISO 4217")),
        ),
        (
            pledge(json!({"amount": {"amount": "1.5", "currency": "VND"}})),
            Err(("data.amount.amount", "more than 0 decimals")),
        ),
        (pledge(json!({"amount": {"amount": "1"}})), Err(("data.amount.currency", "is required"))),
        (pledge(json!({"items": []})), Err(("data.items", "needs at least 1"))),
        (
            pledge(json!({"items": [{"item": "masks", "quantity": 0, "unit": "pcs"}]})),
            Err(("data.items[0].quantity", "positive")),
        ),
        (pledge(json!({"items": [{"item": "masks", "quantity": 5}]})), Err(("data.items[0].unit", "is required"))),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "recipient": "vn/hanoi"})),
            Err(("data.recipient", "must differ")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "donor": "vn/hue"})),
            Err(("data.donor", "not in the ledger")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-3m"})),
            Err(("data.pledge", "already exists")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "purpose": null})),
            Err(("data.purpose", "is required")),
        ),
        (pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "project": "justice-hq"})), Ok(())),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "project": "justice-hq", "recipient": "la"})),
            Err(("data.recipient", "beneficiary of project")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "project": "justice-hq", "donor": "vn"})),
            Err(("data.donor", "one of the funders")),
        ),
        (
            pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "project": "nope"})),
            Err(("data.project", "not in the ledger")),
        ),
    ] {
        check(submission, expected);
    }
    for (submission, expected) in [
        (delivery(usd("100000")), Ok(())),
        (delivery(json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-free"})), Ok(())),
        (
            delivery(
                json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-3m", "project": "justice-hq"}),
            ),
            Ok(()),
        ),
        (
            delivery(json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-3m"})),
            Err(("data.project", "the project of pledge")),
        ),
        (
            delivery(json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-free", "donor": "vn"})),
            Err(("data.donor", "as in pledge")),
        ),
        (
            delivery(json!({"amount": {"amount": "1", "currency": "USD"}, "pledge": "pledge-none"})),
            Err(("data.pledge", "not in the ledger")),
        ),
        (delivery(json!({})), Err(("data", "at least one of"))),
        (
            delivery(json!({"amount": {"amount": "1", "currency": "USD"}, "recipient": "vn/hanoi"})),
            Err(("data.recipient", "must differ")),
        ),
    ] {
        check(submission, expected);
    }
}

#[test]
fn projects() {
    let launch = |extra: Value| {
        let mut data = json!({"project": "school", "name": "Trường Chính trị", "beneficiary": "la/vientiane", "funders": ["vn/hanoi"]});
        merge(&mut data, extra);
        with("project.launched", "2019", data)
    };
    check(launch(json!({})), Ok(()));
    check(launch(json!({"pledge": "pledge-free", "planned_completion": "2026-06"})), Ok(()));
    check(launch(json!({"pledge": "pledge-3m"})), Err(("data.pledge", "another project")));
    check(
        launch(json!({"pledge": "pledge-free", "beneficiary": "la"})),
        Err(("data.beneficiary", "recipient of pledge")),
    );
    check(launch(json!({"pledge": "pledge-free", "funders": ["vn"]})), Err(("data.funders", "donor of pledge")));
    check(launch(json!({"funders": []})), Err(("data.funders", "needs at least 1")));
    check(launch(json!({"project": "justice-hq"})), Err(("data.project", "already exists")));
    check(launch(json!({"planned_completion": "2026-02-30"})), Err(("data.planned_completion", "not a day")));
    let progress = |extra: Value| {
        let mut data = json!({"project": "justice-hq", "status": "reviewed"});
        merge(&mut data, extra);
        with("project.progress", "2023-11", data)
    };
    check(progress(json!({})), Ok(()));
    check(progress(json!({"percent": 0})), Ok(()));
    check(progress(json!({"percent": 100, "status": "on_track"})), Ok(()));
    check(progress(json!({"percent": 101})), Err(("data.percent", "from 0 to 100")));
    check(progress(json!({"percent": -1})), Err(("data.percent", "from 0 to 100")));
    check(progress(json!({"percent": "50"})), Err(("data.percent", "invalid type")));
    check(progress(json!({"status": "late"})), Err(("data.status", "unknown variant")));
    check(progress(json!({"project": "bridge"})), Err(("data.project", "not in the ledger")));
    check(with("project.completed", "2025", json!({"project": "justice-hq"})), Ok(()));
    check(with("project.completed", "2025", json!({"project": "bridge"})), Err(("data.project", "not in the ledger")));
}

#[test]
fn awards_activities_retractions() {
    let award = json!({"award": "Huân chương Phát triển", "class": "hạng Nhì", "by": "la", "to": "vn/hanoi"});
    check(with("award.conferred", "2023-11", award.clone()), Ok(()));
    let mut same = award.clone();
    same["to"] = json!("la");
    check(with("award.conferred", "2023-11", same), Err(("data.to", "must differ")));
    let activity = |extra: Value| {
        let mut data = json!({"category": "trade_fair", "title": "That Luang 2023", "parties": ["vn/hanoi"]});
        merge(&mut data, extra);
        with("activity.held", "2023-11", data)
    };
    check(activity(json!({"figures": {"booths": 8, "area_m2": 300, "enterprises": 5}})), Ok(()));
    check(activity(json!({"figures": {"Booths": 8}})), Err(("data.figures.Booths", "snake_case")));
    check(activity(json!({"figures": {"booths": -8}})), Err(("data.figures.booths", "non-negative")));
    check(activity(json!({"figures": {"booths": "8"}})), Err(("data.figures.booths", "invalid type")));
    check(activity(json!({"category": "party"})), Err(("data.category", "unknown variant")));
    check(activity(json!({"parties": []})), Err(("data.parties", "needs at least 1")));
    let retract = |target: &str| with("event.retracted", "2024", json!({"target": target, "reason": "duplicate"}));
    check(retract("ev-1"), Ok(()));
    check(retract("ev-404"), Err(("data.target", "no event `ev-404`")));
    check(retract("ev-gone"), Err(("data.target", "already retracted")));
    check(retract("ev-retraction"), Err(("data.target", "cannot be retracted")));
    check(with("event.retracted", "2024", json!({"target": "ev-1"})), Err(("data.reason", "is required")));
}

#[test]
fn one_error_per_broken_rule() {
    let submission =
        pledge(json!({"amount": {"amount": "1.001", "currency": "USD"}, "donor": "vn/hue", "recipient": "la/pakse"}));
    let rejection = Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap_err();
    let fields: Vec<&str> = rejection.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["data.amount.amount"], "stateless errors first: {rejection}");
    let submission =
        pledge(json!({"amount": {"amount": "1", "currency": "USD"}, "donor": "vn/hue", "recipient": "la/pakse"}));
    let checked = Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap();
    let rejection = checked.validate(&fixture()).unwrap_err();
    let fields: Vec<&str> = rejection.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["data.donor", "data.recipient"], "{rejection}");
}

/// `ev-1` as the fixture knows it: the content its digest was taken from.
fn ev_1() -> Value {
    json!({"id": "ev-1", "type": "party.registered", "occurred": "2022",
        "data": {"party": "vn", "name": "Việt Nam", "kind": "country", "country": "VN"}})
}

#[test]
fn idempotency_conflicts_and_expect() {
    check(ev_1(), Err(("existing", "seq 1")));
    let mut changed = ev_1();
    changed["occurred"] = json!("2023");
    check(changed, Err(("conflict", "already seq 1 with other content")));
    let mut new = ev_1();
    new["id"] = json!("ev-new");
    check(new.clone(), Err(("data.party", "`vn` already exists")));
    new["data"]["party"] = json!("vn/hue");
    check(new, Ok(()));
    let progress = |version: u64, project: &str| {
        json!({"type": "project.progress", "occurred": "2023-11",
            "expect": {"stream": format!("project:{project}"), "version": version},
            "data": {"project": project, "status": "reviewed"}})
    };
    check(progress(2, "justice-hq"), Ok(()));
    check(progress(1, "justice-hq"), Err(("conflict", "is at version 2, not the expected 1")));
    // A broken rule is reported as such, before any `expect` is looked at.
    check(progress(1, "bridge"), Err(("data.project", "not in the ledger")));
}

/// One submission breaking many rules hears of every one, not the first:
/// the envelope's, each unknown or missing field, and the payload's rules
/// (the amount's form even when its currency is unknown).
#[test]
fn every_broken_rule_of_a_submission_is_reported() {
    let fields = |submission: Value| -> Vec<String> {
        let rejection = Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap_err();
        rejection.errors.into_iter().map(|e| e.field).collect()
    };
    let pledge = json!({"id": "bad id!", "type": "aid.pledged", "occurred": "2023-13", "data": {"pledge": "P 1",
        "donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "", "amount": {"amount": "-5", "currency": "XYZ"}}});
    let mut got = fields(pledge);
    got.sort();
    assert_eq!(got, ["data.amount.amount", "data.amount.currency", "data.pledge", "data.purpose", "id", "occurred"]);
    let visit = json!({"type": "visit.held", "occurred": "2023",
        "data": {"visit": "v", "host": "la/vientiane", "extra": 1, "led_by": {"nam": "x"}}});
    let mut got = fields(visit);
    got.sort();
    assert_eq!(got, ["data.delegation_of", "data.extra", "data.led_by.nam", "data.led_by.name"]);
}
