//! Random valid histories, from a seed: the workload for property tests,
//! acceptance checks and benchmarks. Every submission is valid given the
//! ones before it, and together they use every event type, every date form,
//! several currencies, Vietnamese and Lao text, quotes, newlines and control
//! characters, amendments, terminations and retractions. Deterministic: the
//! same seed and length give the same history.

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

const TEXTS: [&str; 12] = [
    "Hà Nội",
    "Thành phố Viêng Chăn",
    "ນະຄອນຫຼວງວຽງຈັນ",
    "Hợp tác toàn diện giai đoạn 2022–2025",
    "He said \"thank you\" twice",
    "line one\nline two",
    "tab\there and a backslash \\",
    "control \u{1} char",
    "Trụ sở Sở Tư pháp và Viện Kiểm sát nhân dân",
    "ສະຖານທູດ ລາວ",
    "emoji 🇻🇳🇱🇦 outside the BMP",
    "plain ASCII",
];

const CURRENCIES: [&str; 6] = ["USD", "VND", "LAK", "EUR", "JPY", "THB"];
const UNITS: [&str; 4] = ["pcs", "kits", "boxes", "tonnes"];
const ITEMS: [&str; 4] = ["medical masks", "test kits", "rice", "documents"];

/// A seeded generator of valid submissions, in order.
pub struct History {
    rng: SmallRng,
    count: u64,
    parties: Vec<String>,
    agreements: Vec<String>,
    /// (pledge id, donor, recipient, project)
    pledges: Vec<(String, String, String, Option<String>)>,
    /// Indexes into `pledges` of pledges that name no project.
    unclaimed: Vec<usize>,
    /// (project id, beneficiary, funders)
    projects: Vec<(String, String, Vec<String>)>,
    /// Ids of events that may still be retracted.
    retractable: Vec<String>,
}

impl History {
    pub fn new(seed: u64) -> History {
        History {
            rng: SmallRng::seed_from_u64(seed),
            count: 0,
            parties: Vec::new(),
            agreements: Vec::new(),
            pledges: Vec::new(),
            unclaimed: Vec::new(),
            projects: Vec::new(),
            retractable: Vec::new(),
        }
    }

    /// The first `len` submissions of the history for `seed`.
    pub fn generate(seed: u64, len: usize) -> Vec<Value> {
        let mut history = History::new(seed);
        (0..len).map(|_| history.next_submission()).collect()
    }

    fn text(&mut self) -> String {
        (*TEXTS.choose(&mut self.rng).expect("not empty")).to_string()
    }

    fn party(&mut self) -> String {
        self.parties.choose(&mut self.rng).expect("parties come first").clone()
    }

    /// Two different parties.
    fn two_parties(&mut self) -> (String, String) {
        let n = self.parties.len();
        let a = self.rng.random_range(0..n);
        let b = (a + self.rng.random_range(1..n)) % n;
        (self.parties[a].clone(), self.parties[b].clone())
    }

    fn point(&mut self, year: i32) -> String {
        match self.rng.random_range(0..3) {
            0 => format!("{year:04}"),
            1 => format!("{year:04}-{:02}", self.rng.random_range(1..=12)),
            _ => format!("{year:04}-{:02}-{:02}", self.rng.random_range(1..=12), self.rng.random_range(1..=28)),
        }
    }

    /// Any date form: mostly single points, some closed and open intervals.
    fn date(&mut self) -> String {
        let year = self.rng.random_range(1998..=2027);
        match self.rng.random_range(0..10) {
            0 => {
                let end = year + self.rng.random_range(1..=3);
                format!("{}/{}", self.point(year), self.point(end))
            }
            1 => format!("{}/..", self.point(year)),
            _ => self.point(year),
        }
    }

    fn money(&mut self) -> Value {
        let currency = *CURRENCIES.choose(&mut self.rng).expect("not empty");
        let digits = match currency {
            "VND" | "JPY" => 0,
            _ => 2,
        };
        let whole: u64 = self.rng.random_range(0..10_000_000);
        let decimals = self.rng.random_range(0..=digits);
        let amount = if decimals == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{:0width$}", self.rng.random_range(0..10u64.pow(decimals)), width = decimals as usize)
        };
        json!({"amount": amount, "currency": currency})
    }

    fn items(&mut self) -> Value {
        let n = self.rng.random_range(1..=3);
        let items: Vec<Value> = (0..n)
            .map(|_| {
                json!({
                    "item": *ITEMS.choose(&mut self.rng).expect("not empty"),
                    "quantity": self.rng.random_range(1..100_000),
                    "unit": *UNITS.choose(&mut self.rng).expect("not empty"),
                })
            })
            .collect();
        Value::Array(items)
    }

    /// Amount, items, or both.
    fn aid_payload(&mut self, data: &mut serde_json::Map<String, Value>) {
        match self.rng.random_range(0..3) {
            0 => {
                data.insert("amount".into(), self.money());
            }
            1 => {
                data.insert("items".into(), self.items());
            }
            _ => {
                data.insert("amount".into(), self.money());
                data.insert("items".into(), self.items());
            }
        }
    }

    fn sources(&mut self) -> Value {
        if self.rng.random_bool(0.3) {
            return json!([]);
        }
        json!([{"title": self.text(), "published": self.point(2022), "quote": self.text(), "lang": "vi"}])
    }

    /// The next valid submission.
    pub fn next_submission(&mut self) -> Value {
        self.count += 1;
        let n = self.count;
        let (event_type, data) = if self.parties.len() < 3 || self.rng.random_ratio(1, 12) {
            self.party_registered(n)
        } else {
            match self.rng.random_range(0..15) {
                0 => self.visit(n),
                1 | 2 => self.agreement_signed(n),
                3 if !self.agreements.is_empty() => self.agreement_amended(),
                4 if !self.agreements.is_empty() => self.agreement_terminated(),
                5 | 6 => self.aid_pledged(n),
                7 | 8 => self.aid_delivered(),
                9 => self.project_launched(n),
                10 if !self.projects.is_empty() => self.project_progress(),
                11 if !self.projects.is_empty() => ("project.completed", json!({"project": self.project_id()})),
                12 => self.award(),
                13 if !self.retractable.is_empty() => self.retraction(),
                _ => self.activity(),
            }
        };
        let mut submission = json!({"type": event_type, "occurred": self.date(), "data": data});
        if self.rng.random_bool(0.5) {
            submission["sources"] = self.sources();
        }
        if self.rng.random_bool(0.9) {
            let id = format!("ev-{n}");
            if event_type != "event.retracted" {
                self.retractable.push(id.clone());
            }
            submission["id"] = Value::String(id);
        }
        submission
    }

    fn party_registered(&mut self, n: u64) -> (&'static str, Value) {
        let (country, prefix) = [("VN", "vn"), ("LA", "la"), ("TH", "th")][self.rng.random_range(0..3)];
        let party = format!("{prefix}/p{n}");
        let mut data = json!({"party": party, "name": self.text(), "kind": "city", "country": country});
        if self.rng.random_bool(0.5) {
            data["name_en"] = json!("An English name");
        }
        if let Some(within) = self.parties.iter().find(|p| p.starts_with(prefix)).cloned() {
            if self.rng.random_bool(0.3) {
                data["within"] = json!(within);
                data["kind"] = json!("body");
            }
        }
        self.parties.push(party);
        ("party.registered", data)
    }

    fn visit(&mut self, n: u64) -> (&'static str, Value) {
        let (guest, host) = self.two_parties();
        let mut data = json!({
            "visit": format!("visit-{n}"), "delegation_of": guest, "host": host,
            "led_by": {"name": self.text(), "title": self.text()},
        });
        if self.rng.random_bool(0.5) {
            data["level"] = json!(["state", "high", "city", "department", "people"][self.rng.random_range(0..5)]);
            data["members"] = json!([{"name": self.text()}]);
            data["counterparts"] = json!([{"name": self.text(), "title": "Chairman"}]);
            data["place"] = json!(self.text());
            data["purpose"] = json!(self.text());
        }
        ("visit.held", data)
    }

    fn agreement_signed(&mut self, n: u64) -> (&'static str, Value) {
        let (a, b) = self.two_parties();
        let id = format!("agreement-{n}");
        let start = self.rng.random_range(1998..=2026);
        let effective = match self.rng.random_range(0..3) {
            0 => format!("{start}/{}", start + self.rng.random_range(0..=4)),
            1 => format!("{start}/.."),
            _ => self.date(),
        };
        let mut data = json!({
            "agreement": id, "title": self.text(),
            "kind": (["treaty", "agreement", "mou", "minutes", "plan", "other"][self.rng.random_range(0..6)]),
            "level": (["national", "city", "department", "organization"][self.rng.random_range(0..4)]),
            "parties": [a, b], "effective": effective,
            "signatories": [{"name": self.text(), "party": a}],
            "fields": ["education", "culture"],
        });
        if n.is_multiple_of(3) {
            // Without drawing from the generator, so histories stay as seeded.
            data["provisions"] = json!([{"subject": "scholarships", "parties": [a, b]}]);
        }
        self.agreements.push(id);
        ("agreement.signed", data)
    }

    fn agreement_amended(&mut self) -> (&'static str, Value) {
        let agreement = self.agreements.choose(&mut self.rng).expect("checked").clone();
        let mut data = json!({"agreement": agreement});
        if self.rng.random_bool(0.7) {
            let start = self.rng.random_range(1998..=2026);
            data["effective"] = json!(format!("{start}/{}", start + self.rng.random_range(0..=5)));
        }
        if self.rng.random_bool(0.5) {
            data["title"] = json!(self.text());
        }
        ("agreement.amended", data)
    }

    fn agreement_terminated(&mut self) -> (&'static str, Value) {
        let agreement = self.agreements.choose(&mut self.rng).expect("checked").clone();
        ("agreement.terminated", json!({"agreement": agreement, "reason": self.text()}))
    }

    fn aid_pledged(&mut self, n: u64) -> (&'static str, Value) {
        let id = format!("pledge-{n}");
        let (donor, recipient, project) = match self.projects.choose(&mut self.rng).cloned() {
            Some((project, beneficiary, funders)) if self.rng.random_bool(0.4) => {
                (funders[0].clone(), beneficiary, Some(project))
            }
            _ => {
                let (a, b) = self.two_parties();
                (a, b, None)
            }
        };
        let mut data = serde_json::Map::new();
        data.insert("pledge".into(), json!(id));
        data.insert("donor".into(), json!(donor));
        data.insert("recipient".into(), json!(recipient));
        data.insert("purpose".into(), json!(self.text()));
        if let Some(project) = &project {
            data.insert("project".into(), json!(project));
        }
        self.aid_payload(&mut data);
        if project.is_none() {
            self.unclaimed.push(self.pledges.len());
        }
        self.pledges.push((id, donor, recipient, project));
        ("aid.pledged", Value::Object(data))
    }

    fn aid_delivered(&mut self) -> (&'static str, Value) {
        let mut data = serde_json::Map::new();
        match self.pledges.choose(&mut self.rng).cloned() {
            Some((pledge, donor, recipient, project)) if self.rng.random_bool(0.5) => {
                data.insert("pledge".into(), json!(pledge));
                data.insert("donor".into(), json!(donor));
                data.insert("recipient".into(), json!(recipient));
                if let Some(project) = project {
                    data.insert("project".into(), json!(project));
                }
            }
            _ => {
                let (donor, recipient) = self.two_parties();
                data.insert("donor".into(), json!(donor));
                data.insert("recipient".into(), json!(recipient));
            }
        }
        data.insert("purpose".into(), json!(self.text()));
        self.aid_payload(&mut data);
        ("aid.delivered", Value::Object(data))
    }

    fn project_launched(&mut self, n: u64) -> (&'static str, Value) {
        let id = format!("project-{n}");
        let claimed = self.unclaimed.choose(&mut self.rng).map(|i| self.pledges[*i].clone());
        let (beneficiary, funders, pledge) = match claimed {
            Some((pledge, donor, recipient, _)) if self.rng.random_bool(0.5) => (recipient, vec![donor], Some(pledge)),
            _ => {
                let (funder, beneficiary) = self.two_parties();
                (beneficiary, vec![funder], None)
            }
        };
        let mut data = json!({"project": id, "name": self.text(), "beneficiary": beneficiary, "funders": funders});
        if let Some(pledge) = &pledge {
            data["pledge"] = json!(pledge);
        }
        if self.rng.random_bool(0.5) {
            data["planned_completion"] = json!(self.point(2026));
        }
        self.projects.push((id, beneficiary, funders));
        ("project.launched", data)
    }

    fn project_id(&mut self) -> String {
        self.projects.choose(&mut self.rng).expect("checked").0.clone()
    }

    fn project_progress(&mut self) -> (&'static str, Value) {
        let mut data = json!({
            "project": self.project_id(),
            "status": (["on_track", "delayed", "suspended", "reviewed"][self.rng.random_range(0..4)]),
        });
        if self.rng.random_bool(0.7) {
            data["percent"] = json!(self.rng.random_range(0..=100));
        }
        if self.rng.random_bool(0.3) {
            data["note"] = json!(self.text());
        }
        ("project.progress", data)
    }

    fn award(&mut self) -> (&'static str, Value) {
        let (by, to) = self.two_parties();
        ("award.conferred", json!({"award": self.text(), "class": "second", "by": by, "to": to}))
    }

    fn activity(&mut self) -> (&'static str, Value) {
        let category = ["trade_fair", "exhibition", "scholarship", "training", "exchange", "forum", "gift", "other"]
            [self.rng.random_range(0..8)];
        let mut data = json!({"category": category, "title": self.text(), "parties": [self.party()]});
        if self.rng.random_bool(0.5) {
            data["figures"] =
                json!({"booths": self.rng.random_range(0..100), "area_m2": self.rng.random_range(0..5000)});
        }
        ("activity.held", data)
    }

    fn retraction(&mut self) -> (&'static str, Value) {
        let index = self.rng.random_range(0..self.retractable.len());
        let target = self.retractable.swap_remove(index);
        ("event.retracted", json!({"target": target, "reason": self.text()}))
    }
}

/// Seals generated submissions into a chain of records as the committer
/// does (the same [`crate::decide`] and [`crate::Sealer`]; ids `gen-<seq>`
/// where a submission has none, one microsecond of `recorded_at` per
/// record), for tests and benchmarks of pure code. Panics on a submission
/// the ledger would not append: generated histories are valid.
pub fn seal(submissions: &[Value]) -> Vec<crate::Record> {
    let (mut knowledge, mut sealer) = (crate::Knowledge::default(), crate::Sealer::default());
    let mut records = Vec::with_capacity(submissions.len());
    for submission in submissions {
        let bytes = serde_json::to_vec(submission).expect("a Value always serializes");
        let checked = crate::Checked::parse(&bytes).expect("generated submissions are valid");
        let admitted = match crate::decide(&knowledge, checked) {
            crate::Decision::New(admitted) => admitted,
            other => panic!("a generated submission was not admitted: {other:?}"),
        };
        let seq = sealer.next_seq();
        let id = admitted.checked().id().map_or_else(|| format!("gen-{seq}"), str::to_string);
        let sealed = sealer.seal(admitted.checked(), &id, &recorded_at(seq));
        let (checked, effects) = (*admitted).into_parts();
        let key = checked.id_key().unwrap_or_else(|| crate::knowledge::id_key(&id));
        knowledge.absorb(seq, key, checked.event_type(), checked.content_digest(), &effects);
        records.push(crate::Record::decode(sealed.bytes()).expect("sealed bytes are a record"));
    }
    records
}

/// 2026-01-01T00:00:00Z plus `seq` microseconds, in the ledger's format.
fn recorded_at(seq: u64) -> String {
    const BASE_MICROS: i64 = 1_767_225_600_000_000;
    crate::append::recorded_at(chrono::DateTime::from_timestamp_micros(BASE_MICROS + seq as i64).expect("in range"))
}
