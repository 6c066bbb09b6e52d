//! The Hanoi–Vientiane history (`data/hanoi-vientiane.ndjson`) against facts
//! a reader of the five articles can confirm by hand. Each expectation cites
//! the sentence it comes from.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;

const HISTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hanoi-vientiane.ndjson");
const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/seeds");

fn imported() -> (tempfile::TempDir, std::path::PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let output = amity(&db, &["import", HISTORY], b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    (work, db)
}

fn view(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["view"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = amity(db, &all, b"");
    assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The history's submissions, as the file holds them.
fn history_events() -> Vec<Value> {
    std::fs::read_to_string(HISTORY).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn ids(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array().unwrap().iter().map(|r| r[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_history_imports_cleanly_verifies_and_reimports_as_a_no_op() {
    let (_work, db) = imported();
    let verify = amity(&db, &["verify"], b"");
    assert!(verify.status.success());
    let again = amity(&db, &["import", HISTORY], b"");
    assert!(text(&again.stdout).contains(" 0 appended"), "{}", text(&again.stdout));
}

#[test]
fn every_quote_is_verbatim_in_its_article_and_every_event_has_a_source() {
    let articles: Vec<String> = std::fs::read_dir(SEEDS)
        .unwrap_or_else(|e| panic!("the seed articles are at {SEEDS}: {e}"))
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(articles.len(), 5);
    for line in std::fs::read_to_string(HISTORY).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let sources = event["sources"].as_array().unwrap();
        assert!(!sources.is_empty(), "{} has no source", event["id"]);
        for source in sources {
            let quote = source["quote"].as_str().unwrap();
            assert!(articles.iter().any(|a| a.contains(quote)), "{}: not verbatim: {quote}", event["id"]);
            assert_eq!(source["lang"], "vi");
        }
    }
}

#[test]
fn active_agreements_on_the_days_the_articles_describe() {
    let (_work, db) = imported();
    // "cùng nhau ký kết Biên bản thoả thuận hợp tác giai đoạn 2022-2025" (article of
    // April 2022), with its provisions between named bodies ("hợp tác giữa các cơ
    // quan chuyên môn cụ thể như ..."), and the national agreements it follows
    // ("Thỏa thuận Chiến lược Hợp tác ... giai đoạn 2021 - 2030 và Hiệp định hợp tác
    // song phương ... giai đoạn 2021 - 2025"), all in force on 22 November 2023.
    // The provisions ("điểm đột phá của Biên bản thoả thuận hợp tác lần này là một
    // số điều khoản cụ thể ... như thỏa thuận về cấp học bổng; hợp tác giữa các cơ
    // quan chuyên môn cụ thể như: ...") are clauses of the minutes, not agreements.
    let on_visit = view(&db, &["agreements", "--as-of", "2023-11-22"]);
    assert_eq!(
        ids(&on_visit["agreements"], "agreement"),
        [
            "hanoi-vientiane-minutes-2022-2025",
            "vn-la-bilateral-cooperation-2021-2025",
            "vn-la-cooperation-strategy-2021-2030",
            "vn-la-treaty-friendship-cooperation-1977",
        ]
    );
    let minutes = &on_visit["agreements"][0];
    assert_eq!(minutes["signed"], "2022-04-04");
    assert_eq!(minutes["effective"], "2022/2025");
    assert_eq!(minutes["kind"], "minutes");
    assert_eq!(minutes["level"], "city");
    assert_eq!(minutes["parties"], json!(["vn/hanoi", "la/vientiane"]));
    let provisions = minutes["provisions"].as_array().unwrap();
    assert_eq!(provisions.len(), 6, "thỏa thuận về cấp học bổng and five between named bodies");
    assert_eq!(provisions[0]["subject"], "Thỏa thuận về cấp học bổng");
    assert_eq!(
        provisions[3]["parties"],
        json!(["vn/hanoi/agriculture-dept", "la/vientiane/agriculture-forestry-dept"])
    );
    for other in &on_visit["agreements"].as_array().unwrap()[1..] {
        assert_eq!(other["provisions"], json!([]), "{other}");
    }
    // By 27 January 2026 the 2022-2025 period is over; the 2021-2030 strategy and
    // the 1977 treaty ("50 năm Ngày ký Hiệp ước Hữu nghị và Hợp tác" in 2027) remain.
    let after = view(&db, &["agreements", "--as-of", "2026-01-27"]);
    assert_eq!(
        ids(&after["agreements"], "agreement"),
        ["vn-la-cooperation-strategy-2021-2030", "vn-la-treaty-friendship-cooperation-1977"]
    );
    // Before the signing ("sáng 4/4"), the minutes are not yet in force.
    let before = view(&db, &["agreements", "--as-of", "2022-04-03"]);
    assert!(!ids(&before["agreements"], "agreement").contains(&"hanoi-vientiane-minutes-2022-2025".to_string()));
}

#[test]
fn aid_per_year_keeps_the_pledge_in_2022_and_pandemic_aid_undated() {
    let (_work, db) = imported();
    let aid = view(&db, &["aid"]);
    let row = |year: Value, donor: &str, recipient: &str| -> Value {
        aid["money"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["year"] == year && r["donor"] == donor && r["recipient"] == recipient)
            .cloned()
            .unwrap_or_else(|| panic!("no {year} {donor} → {recipient} row in {aid}"))
    };
    // "Thủ đô Hà Nội sẽ hỗ trợ Thủ đô Viêng Chăn 3 triệu USD để xây dựng trụ sở Sở
    // Tư pháp và Viện Kiểm sát Thủ đô Viêng Chăn." (April 2022)
    let pledge = row(json!(2022), "vn/hanoi", "la/vientiane");
    assert_eq!((pledge["currency"].as_str(), pledge["pledged"].as_str()), (Some("USD"), Some("3000000.00")));
    assert_eq!(pledge["delivered"], "0.00");
    // "hỗ trợ 8 tỉnh phía Bắc Lào mỗi tỉnh 20.000 USD" — during the pandemic,
    // reported in August 2022: 8 × 20,000, undated.
    let provinces = row(json!("undated"), "vn/hanoi", "la/northern-provinces");
    assert_eq!(provinces["delivered"], "160000.00");
    // "Thủ đô Viêng Chăn đã hỗ trợ Hà Nội 15.000 USD" and "... và 40.000 USD".
    assert_eq!(row(json!("undated"), "la/vientiane", "vn/hanoi")["delivered"], "15000.00");
    assert_eq!(row(json!("undated"), "vn/hanoi", "la/vientiane")["delivered"], "40000.00");
    assert_eq!(aid["money"].as_array().unwrap().len(), 4, "no other money in the articles: {aid}");
    // "30.000 khẩu trang y tế; 10.000 bộ kit test xét nghiệm ..."
    let items: Vec<(String, u64)> = aid["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["item"].as_str().unwrap().to_string(), r["delivered"].as_u64().unwrap()))
        .collect();
    assert!(items.contains(&("khẩu trang y tế".to_string(), 30_000)), "{items:?}");
    assert!(items.contains(&("bộ kit test xét nghiệm phát hiện kháng nguyên SARS-CoV-2".to_string(), 10_000)));
}

#[test]
fn the_headquarters_project_is_outstanding_with_its_review_of_november_2023() {
    let (_work, db) = imported();
    let projects = view(&db, &["projects", "--as-of", "2026-01-27"]);
    let hq = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["project"] == "vientiane-justice-prosecutors-hq")
        .cloned()
        .expect("the headquarters project is outstanding");
    // "rà soát tiến độ Dự án xây dựng Trụ sở Tư pháp và Viện kiểm sát Thủ đô Viêng
    // Chăn do Hà Nội hỗ trợ kinh phí xây dựng" during the visit of 22–24/11/2023;
    // no percentage is given.
    assert_eq!(hq["status"], "reviewed");
    assert_eq!(hq["last_report"], "2023-11-22/2023-11-24");
    assert_eq!(hq["percent"], Value::Null);
    assert_eq!(hq["pledged"], json!([{"currency": "USD", "amount": "3000000.00"}]));
    assert_eq!(hq["delivered"], json!([]));
    // The works Hanoi "đã ... hỗ trợ Viêng Chăn xây dựng" (has supported building),
    // "là biểu tượng cho quan hệ tốt đẹp của hai thủ đô" (August 2022): "Trường Chính
    // trị - Hành chính thủ đô Viêng Chăn, Nhà Truyền thống Bộ Chỉ huy quân sự thủ đô
    // Viêng Chăn, dự án hợp tác hỗ trợ phát triển nông nghiệp" are done, not
    // outstanding, and each completion says it is inferred.
    assert_eq!(ids(&projects["projects"], "project"), ["vientiane-justice-prosecutors-hq"]);
    let history = history_events();
    for project in [
        "vientiane-political-administrative-school",
        "vientiane-military-command-traditional-house",
        "vientiane-agriculture-development",
    ] {
        let completed = history
            .iter()
            .find(|e| e["type"] == "project.completed" && e["data"]["project"] == project)
            .unwrap_or_else(|| panic!("{project} is recorded as completed"));
        assert!(completed["data"]["note"].as_str().unwrap().starts_with("Inferred"), "{completed}");
    }
}

#[test]
fn visits_in_date_order() {
    let (_work, db) = imported();
    let visits = view(&db, &["visits"]);
    let timeline: Vec<(String, String, String, String)> = visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["occurred"].as_str().unwrap().to_string(),
                v["delegation_of"].as_str().unwrap().to_string(),
                v["host"].as_str().unwrap().to_string(),
                v["led_by"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        // "sáng 4/4 tại thủ đô Vientiane, Đoàn đại biểu cấp cao thành phố Hà Nội do ông Đinh Tiến Dũng ..."
        ("2022-04-04", "vn/hanoi", "la/vientiane", "Đinh Tiến Dũng"),
        // "diễn ra từ ngày 22 đến ngày 24/11/2023"; "Phó Chủ tịch UBND Thành phố Nguyễn Mạnh Quyền"
        ("2023-11-22/2023-11-24", "vn/hanoi", "la/vientiane", "Nguyễn Mạnh Quyền"),
        // "chuyến thăm cấp Nhà nước của Tổng Bí thư Tô Lâm ... tới Cộng hòa Dân chủ Nhân dân Lào"
        ("2025-12", "vn", "la", "Tô Lâm"),
        // "chiều ngày 2/12/2025, ... Nguyễn Duy Ngọc đã có cuộc hội đàm với ... Anouphap Tounalom"
        ("2025-12-02", "vn/hanoi", "la/vientiane", "Nguyễn Duy Ngọc"),
        // "tại buổi hội đàm ngày 26/1" between Tô Lâm and Thongloun Sisoulith
        ("2026-01-26", "la", "vn", "Thongloun Sisoulith"),
        // "Sáng 27/1, ... Thongloun Sisoulith dẫn đầu Đoàn đại biểu cấp cao thăm ... thành phố Hà Nội"
        ("2026-01-27", "la", "vn/hanoi", "Thongloun Sisoulith"),
    ];
    let expected: Vec<(String, String, String, String)> =
        expected.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(timeline, expected);
    assert_eq!(visits["visits"][1]["visit"], "visit-2023-11-hanoi-vientiane");
}

#[test]
fn demo_imports_once_verifies_and_prints_every_view() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("demo");
    let first = amity(&db, &["demo"], b"");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    let events = history_events().len();
    assert!(out.contains(&format!("{events} records appended, 0 already present")), "{out}");
    assert!(out.contains(&format!("Chain verified: ok {events} records")), "{out}");
    for heading in ["Active agreements as of 2023-11-22", "Outstanding projects as of", "Aid in money", "Visits"] {
        assert!(out.contains(heading), "{heading} missing from:\n{out}");
    }
    assert!(out.contains("3,000,000.00 USD"), "{out}");
    let second = amity(&db, &["demo"], b"");
    assert!(text(&second.stdout).contains(&format!("0 records appended, {events} already present")));
}

/// The minutes' fields are the ones the minutes name ("Biên bản nêu rõ ... các
/// vấn đề trọng tâm ... như tài chính công, hợp tác an ninh, phòng chống ma túy,
/// hoạt động của cơ quan dân cử, công tác xây dựng đảng và cơ chế hoạt động của
/// Đảng bộ cấp thành phố"), not the leaders' wishes at the talks ("trọng tâm là về
/// chính trị, đối ngoại, ..."); its provisions are the "điều khoản cụ thể".
#[test]
fn the_minutes_name_their_own_fields_and_provisions() {
    let history = history_events();
    let minutes = history.iter().find(|e| e["id"] == "ev-2022-04-04-minutes").unwrap();
    assert_eq!(
        minutes["data"]["fields"],
        json!([
            "tài chính công",
            "hợp tác an ninh",
            "phòng chống ma túy",
            "hoạt động của cơ quan dân cử",
            "công tác xây dựng đảng",
            "cơ chế hoạt động của Đảng bộ cấp thành phố"
        ])
    );
    let subjects: Vec<&str> =
        minutes["data"]["provisions"].as_array().unwrap().iter().map(|p| p["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects.len(), 6);
    assert!(subjects[0] == "Thỏa thuận về cấp học bổng" && subjects[2].contains("Thành đoàn Hà Nội"), "{subjects:?}");
    let agreements = history.iter().filter(|e| e["type"] == "agreement.signed").count();
    assert_eq!(
        agreements, 4,
        "the treaty, two national agreements and the minutes: nothing else is called an agreement"
    );
}

/// What the articles do not state outright is either widened to what they
/// support or says, in a note, what was inferred and from which words.
#[test]
fn inferences_are_marked_or_widened() {
    let history = history_events();
    let event = |id: &str| history.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id}")).clone();
    let note = |id: &str| event(id)["data"]["note"].as_str().unwrap_or_default().to_string();
    // "dẫn đầu Đoàn đại biểu cấp cao": a high-level delegation, not a state visit.
    for id in ["visit-2026-01-26-general-secretaries-talks", "visit-2026-01-27-thongloun-hanoi"] {
        assert_eq!(event(id)["data"]["level"], "high", "{id}");
        assert!(note(id).contains("Đoàn đại biểu cấp cao"), "{id}");
    }
    // "gửi tặng ... bộ tài liệu": one set, inferred from the word alone.
    assert!(note("gift-2022-04-party-documents").contains("'bộ tài liệu'"));
    // "Trong khuôn khổ chuyến thăm", dated "Sáng 27/1".
    assert!(note("exhibition-2026-01-27-craft-villages").contains("Sáng 27/1"));
    // Said during the visit "từ ngày 22 đến ngày 24/11/2023", on no day of its own.
    assert_eq!(event("plan-2023-11-22-peoples-councils-mou")["occurred"], "2023-11-22/2023-11-24");
    // A photo caption ("Lễ trao Huân chương Phát triển hạng II ...") with no date.
    let award = event("award-2025-order-of-development-hanoi");
    assert_eq!(award["occurred"], "1962/2025-12-02");
    assert!(note("award-2025-order-of-development-hanoi").contains("photo caption"));
}

/// The committed history is exactly what its build script makes from the
/// articles, and the script's checks hold: every quote verbatim, and every
/// amount, quantity, figure, day and month found in the record's quotes
/// unless its note says it is inferred.
#[test]
fn the_history_is_what_its_checked_build_script_makes() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tools/build_hanoi_vientiane.py");
    let output = std::process::Command::new("python3").arg(script).arg("--check").output();
    let output = output.expect("python3 runs (the README's test command needs it)");
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains("as committed"), "{}", text(&output.stdout));
}

/// Facts a second reading found missing, each with the sentence it rests on.
#[test]
fn the_facts_a_second_reading_found_are_recorded() {
    let history = history_events();
    let event = |id: &str| history.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id} is recorded")).clone();
    // "đẩy mạnh trao đổi đoàn cấp cao lãnh đạo thành phố thường niên" (2 Dec 2025)
    assert_eq!(event("exchange-2022-2025-annual-high-level-delegations")["data"]["category"], "exchange");
    // "Lãnh đạo hai Thủ đô đánh giá cao những kết quả hợp tác ... Biên bản ghi nhớ hợp
    // tác giai đoạn 2022 - 2025", at the talks of "chiều ngày 2/12/2025"
    assert_eq!(event("appraisal-2025-12-02-minutes-2022-2025")["occurred"], "2025-12-02");
    // "Trao đổi đoàn cấp cao và cơ sở, mở rộng các hình thức hợp tác hỗ trợ phát triển
    // nông nghiệp" (August 2022)
    assert_eq!(event("exchange-2022-delegations")["data"]["title"], "Trao đổi đoàn cấp cao và cơ sở");
    assert!(event("activity-2022-agriculture-support")["data"]["title"].as_str().unwrap().contains("nông nghiệp"));
    // "đề nghị hai bên tăng cường các chương trình hợp tác trên mọi lĩnh vực" (27 Jan 2026)
    assert_eq!(event("proposal-2026-01-27-model-cooperation")["occurred"], "2026-01-27");
    // "doanh nghiệp 4 nước: Việt Nam, Trung quốc, Campuchia, Thái lan"; "Thủ công mỹ
    // nghệ, dệt may, nông sản thực phẩm, hàng tiêu dùng"; "sẽ dự khai mạc chính thức Năm
    // Du lịch Lào 2024"
    let fair = event("trade-fair-2023-that-luang")["data"]["note"].as_str().unwrap().to_string();
    for named in ["Trung Quốc", "Campuchia", "Thái Lan", "dệt may", "hàng tiêu dùng"] {
        assert!(fair.contains(named), "{named} in {fair}");
    }
    assert_eq!(
        event("opening-2023-11-visit-laos-year-2024")["data"]["title"],
        "Khai mạc chính thức Năm Du lịch Lào 2024"
    );
    // Source titles a reader recognises: no photo caption, no cut-off sentence.
    for record in &history {
        for source in record["sources"].as_array().unwrap() {
            let title = source["title"].as_str().unwrap();
            assert!(
                !title.ends_with('.') && title != "Tổng Bí thư, Chủ Tịch nước Lào thăm và làm việc với TP Hà Nội",
                "{title}"
            );
        }
    }
}
