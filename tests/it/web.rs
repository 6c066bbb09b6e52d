//! The dashboard as a person's browser gets it (server-rendered HTML, no
//! script needed): every number on the overview is the JSON views' own, the
//! as-of control changes what is in force, a record page shows its sources'
//! sentences. `browser.rs` drives the same pages in chromium.

use crate::common::*;
use serde_json::Value;

const HISTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hanoi-vientiane.ndjson");

fn get(url: &str) -> (u16, String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
        (status, kind, response.text().await.unwrap())
    })
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[test]
fn the_dashboard_shows_the_views_numbers_and_links_records_to_their_sentences() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["import", HISTORY], b"").status.success());
    let server = serve_process(&db, "token-web-1");
    let json = |path: &str| -> Value { serde_json::from_str(&get(&format!("{}{path}", server.url)).2).unwrap() };

    let (status, kind, page) = get(&format!("{}/?as_of=2023-11-22", server.url));
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    let agreements = json("/views/agreements?as_of=2023-11-22");
    for a in agreements["agreements"].as_array().unwrap() {
        assert!(page.contains(&escaped(a["title"].as_str().unwrap())), "{}", a["title"]);
    }
    let aid = json("/views/aid");
    for row in aid["money"].as_array().unwrap() {
        for column in ["pledged", "delivered"] {
            let shown = format!("{} {}", grouped(row[column].as_str().unwrap()), row["currency"].as_str().unwrap());
            assert!(page.contains(&shown), "{shown} for {row}");
        }
    }
    assert!(page.contains("undated (spans years)"), "undated aid is shown apart and labelled");
    let projects = json("/views/projects?as_of=2023-11-22");
    for p in projects["projects"].as_array().unwrap() {
        assert!(page.contains(&escaped(p["name"].as_str().unwrap())), "{}", p["name"]);
    }
    let visits = json("/views/visits");
    for v in visits["visits"].as_array().unwrap() {
        assert!(page.contains(&escaped(v["led_by"]["name"].as_str().unwrap())), "{}", v["led_by"]);
        if let Some(level) = v["level"].as_str() {
            let timeline = format!("led by {} ({level} level)", v["led_by"]["name"].as_str().unwrap());
            assert!(page.contains(&escaped(&timeline)), "the timeline says who led it at which level: {timeline}");
        }
    }
    assert!(page.contains("22–24 Nov 2023"), "dates at the precision recorded");

    // The as-of control: the 2022-2025 minutes are in force on the last day of
    // 2025, not on the first of 2026.
    let minutes = "Biên bản thoả thuận hợp tác giữa Thủ đô Hà Nội và Thủ đô Viêng Chăn";
    // (The calendar draws every agreement; the table lists those in force.)
    let in_force = |day: &str| -> String {
        let page = get(&format!("{}/?as_of={day}", server.url)).2;
        let table = page.split_once("id=\"agreements\"").map_or("", |(_, rest)| rest);
        table.split_once("</table>").map_or("", |(table, _)| table).to_string()
    };
    assert!(in_force("2025-12-31").contains(minutes));
    assert!(!in_force("2026-01-01").contains(minutes));
    assert!(
        get(&format!("{}/?as_of=2026-01-01", server.url)).2.contains("not-in-force"),
        "the calendar still draws it"
    );

    // A record's page: its fields, and its source's sentence, verbatim.
    let (status, _, record) = get(&format!("{}/records/pledge-2022-04-04-usd-3m-justice-hq", server.url));
    assert_eq!(status, 200);
    assert!(record.contains("3,000,000.00 USD"));
    assert!(record.contains(&escaped("Thủ đô Hà Nội sẽ hỗ trợ Thủ đô Viêng Chăn 3 triệu USD")), "the quote");
    assert!(record.contains("/records/project-vientiane-justice-prosecutors-hq"), "what else names its project");

    let (status, kind, _) = get(&format!("{}/records/no-such-record", server.url));
    assert_eq!((status, kind.starts_with("text/html")), (404, true));
    let (status, kind, _) = get(&format!("{}/?as-of=2023-01-01", server.url));
    assert_eq!((status, kind.starts_with("text/html")), (400, true), "an unknown control is refused, not ignored");
}
