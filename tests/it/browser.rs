//! The dashboard in a real browser: Debian's chromium driven through
//! chromedriver (WebDriver, from Rust with fantoccini), on the
//! Hanoi–Vientiane history. What a person would see is checked: every
//! number on the page against the JSON views, the as-of control changing
//! what is in force, a chart bar leading to its records and a record to
//! its source's sentence, a posted record appearing without a reload, the
//! pages at 390 and 1440 px (no sideways scrolling), and axe-core finding
//! no serious accessibility violation. Screenshots of every page at both
//! widths land in `target/screenshots/`.
//!
//! Every wait is a bounded poll of the DOM. CI installs chromium,
//! chromium-driver and axe-core (`.ci/run`); elsewhere the test says it
//! was skipped when one is missing, and in CI it fails instead.

use crate::common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HISTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hanoi-vientiane.ndjson");
const TOKEN: &str = "token-browser";
/// How long any one wait on the page may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// chromium, chromedriver and axe-core's script, or `None` (with a
/// notice) outside CI when one is missing.
fn tools() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let axe = std::env::var_os("AMITY_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe/package/axe.min.js"));
    let found = [PathBuf::from("/usr/bin/chromium"), PathBuf::from("/usr/bin/chromedriver"), axe];
    let missing: Vec<String> = found.iter().filter(|p| !p.is_file()).map(|p| p.display().to_string()).collect();
    if missing.is_empty() {
        let [chromium, driver, axe] = found;
        return Some((chromium, driver, axe));
    }
    assert!(std::env::var_os("CI").is_none(), "the browser test needs {missing:?} in CI (.ci/run installs them)");
    eprintln!(
        "SKIPPED: the browser test needs {missing:?} (apt-get install chromium chromium-driver; \
         npm pack axe-core into target/axe, as .ci/run does)"
    );
    None
}

/// A chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let started = Instant::now();
    loop {
        let ready = reqwest::get(format!("{}/status", driver.url)).await.ok();
        if let Some(response) = ready {
            if response.json::<Value>().await.is_ok_and(|s| s["value"]["ready"] == true) {
                return driver;
            }
        }
        assert!(started.elapsed() < PATIENCE, "chromedriver did not become ready");
        tokio::task::yield_now().await;
    }
}

async fn browser(driver: &Driver, chromium: &PathBuf) -> Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,1000", "--hide-scrollbars", "--lang=en-GB"]
        }
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// Runs `script` in the page and returns what it returns.
async fn run(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Polls `script` until it returns `true`, for at most [`PATIENCE`].
async fn until(client: &Client, what: &str, script: &str) {
    let started = Instant::now();
    while run(client, script).await != Value::Bool(true) {
        assert!(started.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Loads `path` and waits until the document is complete.
async fn open(client: &Client, base: &str, path: &str) {
    client.goto(&format!("{base}{path}")).await.unwrap();
    until(client, "the page to load", "return document.readyState === 'complete'").await;
}

/// The cells' text, row by row, of the table with this id.
async fn cells(client: &Client, table: &str) -> Vec<Vec<String>> {
    let script = format!(
        "const t = document.getElementById('{table}'); if (!t) return [];
         return [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.trim().replace(/\\s+/g, ' ')));"
    );
    serde_json::from_value(run(client, &script).await).unwrap()
}

async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn json(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}")).await.unwrap().json().await.unwrap()
}

fn money(row: &Value, column: &str) -> String {
    format!("{} {}", grouped(row[column].as_str().unwrap()), row["currency"].as_str().unwrap())
}

/// Every number the overview shows for these controls equals the JSON views'.
async fn numbers_match_the_views(client: &Client, base: &str, query: &str) {
    open(client, base, &format!("/?{query}")).await;
    let status = json(base, "/status").await;
    assert_eq!(text_of(client, "#head-seq").await, status["seq"].to_string(), "head seq");
    assert_eq!(text_of(client, "#head-hash").await, status["head"].as_str().unwrap(), "head hash");

    let agreements = json(base, &format!("/views/agreements?{query}")).await;
    let listed = agreements["agreements"].as_array().unwrap();
    assert_eq!(text_of(client, "#agreements-count").await, listed.len().to_string(), "agreements in force ({query})");
    let rows = cells(client, "agreements").await;
    assert_eq!(rows.len(), listed.len());
    for (row, a) in rows.iter().zip(listed) {
        assert!(row[0].starts_with(a["title"].as_str().unwrap()), "{row:?} vs {a}");
    }

    let projects = json(base, &format!("/views/projects?{query}")).await;
    let listed = projects["projects"].as_array().unwrap();
    assert_eq!(text_of(client, "#projects-count").await, listed.len().to_string());
    let rows = cells(client, "projects").await;
    assert_eq!(rows.len(), listed.len());
    for (row, p) in rows.iter().zip(listed) {
        let percent = p["percent"].as_i64().map_or("—".to_string(), |v| format!("{v}%"));
        assert_eq!(row[2], percent, "progress of {}", p["project"]);
        let amounts = |column: &str| -> String {
            let all: Vec<String> = p[column].as_array().unwrap().iter().map(|m| money(m, "amount")).collect();
            if all.is_empty() {
                "—".into()
            } else {
                all.join(", ")
            }
        };
        assert_eq!((row[5].clone(), row[6].clone()), (amounts("pledged"), amounts("delivered")), "{}", p["project"]);
    }

    let at_seq = query.split('&').find(|pair| pair.starts_with("at_seq=")).map_or(String::new(), |p| format!("?{p}"));
    let aid = json(base, &format!("/views/aid{at_seq}")).await;
    let money_rows = aid["money"].as_array().unwrap();
    let rows = cells(client, "aid-money").await;
    assert_eq!(rows.len(), money_rows.len(), "aid rows");
    let bars: Vec<String> = serde_json::from_value(
        run(client, "return [...document.querySelectorAll('a.bar-link .value')].map(v => v.textContent)").await,
    )
    .unwrap();
    for (row, m) in rows.iter().zip(money_rows) {
        let year = if m["year"] == "undated" { "undated (spans years)".to_string() } else { m["year"].to_string() };
        let expected = vec![
            year,
            format!("{} → {}", m["donor"].as_str().unwrap(), m["recipient"].as_str().unwrap()),
            money(m, "pledged"),
            money(m, "delivered"),
        ];
        assert_eq!(row, &expected);
        assert!(bars.contains(&format!("pledged {}", money(m, "pledged"))), "a bar reads {expected:?}");
        assert!(bars.contains(&format!("delivered {}", money(m, "delivered"))), "a bar reads {expected:?}");
    }
    assert_eq!(bars.len(), 2 * money_rows.len(), "one pledged and one delivered bar per row");
    let items = cells(client, "aid-items").await;
    let item_rows = aid["items"].as_array().unwrap();
    assert_eq!(items.len(), item_rows.len());
    for (row, i) in items.iter().zip(item_rows) {
        let unit = i["unit"].as_str().unwrap();
        assert_eq!(
            (&row[2], &row[3], &row[4]),
            (
                &i["item"].as_str().unwrap().to_string(),
                &format!("{} {unit}", i["pledged"]),
                &format!("{} {unit}", i["delivered"])
            )
        );
    }

    let visits = json(base, &format!("/views/visits{at_seq}")).await;
    let listed = visits["visits"].as_array().unwrap();
    let rows = cells(client, "visits").await;
    assert_eq!(rows.len(), listed.len());
    for (row, v) in rows.iter().zip(listed) {
        assert!(row[2].starts_with(v["led_by"]["name"].as_str().unwrap()), "{row:?} vs {v}");
    }
}

/// No serious or critical axe-core violation on the page now shown.
async fn accessible(client: &Client, axe: &str, page: &str) {
    run(client, &format!("{axe}\nreturn true;")).await;
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "axe-core on {page}");
}

/// The page fits the window's width, and a full-length screenshot of it.
async fn at_width(client: &Client, width: u32, name: &str) {
    client.set_window_size(width, 900).await.unwrap();
    until(client, "the resize", &format!("return window.innerWidth <= {width} && window.innerWidth > {width} - 40"))
        .await;
    let (scroll, inner) = serde_json::from_value::<(u32, u32)>(
        run(client, "return [document.documentElement.scrollWidth, window.innerWidth]").await,
    )
    .unwrap();
    assert!(scroll <= inner, "{name} at {width} px scrolls sideways: {scroll} px of content in {inner}");
    let height = run(client, "return document.documentElement.scrollHeight").await.as_u64().unwrap() as u32;
    client.set_window_size(width, height.clamp(600, 12_000) + 100).await.unwrap();
    let shot = client.screenshot().await.unwrap();
    let dir = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}-{width}.png")), shot).unwrap();
}

async fn post(base: &str, submission: Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .bearer_auth(TOKEN)
        .json(&submission)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[test]
fn the_dashboard_in_chromium() {
    let Some((chromium, driver_path, axe)) = tools() else { return };
    let axe = std::fs::read_to_string(axe).unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["import", HISTORY], b"").status.success());
    let server = serve_process(&db, TOKEN);
    let base = server.url.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let driver = start_driver(&driver_path).await;
        let client = browser(&driver, &chromium).await;

        // Every number equals the JSON views', for a day, for today, and
        // for the ledger as it stood after record 30.
        numbers_match_the_views(&client, &base, "as_of=2023-11-22").await;
        numbers_match_the_views(&client, &base, "as_of=2026-11-01").await;
        numbers_match_the_views(&client, &base, "as_of=2023-11-22&at_seq=30").await;

        // The as-of control: the 2022–2025 minutes are in force on the last
        // day of 2025 and not on the first of 2026; the URL says which.
        let minutes = "Biên bản thoả thuận hợp tác giữa Thủ đô Hà Nội và Thủ đô Viêng Chăn";
        open(&client, &base, "/").await;
        for (day, in_force) in [("2025-12-31", true), ("2026-01-01", false)] {
            run(&client, &format!("document.getElementById('as_of').value = '{day}'; return true")).await;
            client.find(Locator::Css("form.controls button")).await.unwrap().click().await.unwrap();
            until(&client, "the new day", &format!("return location.search.includes('as_of={day}') && document.readyState === 'complete'")).await;
            let titles: Vec<String> = cells(&client, "agreements").await.into_iter().map(|row| row[0].clone()).collect();
            assert_eq!(titles.iter().any(|t| t.starts_with(minutes)), in_force, "on {day}: {titles:?}");
            let marked = run(&client, "return document.querySelector('.spans .cursor') !== null").await;
            assert_eq!(marked, true, "the calendar marks the day");
        }

        // A chart bar leads to its records, a record to its source's sentence.
        open(&client, &base, "/?as_of=2023-11-22").await;
        let bar = client.find(Locator::Css("a.bar-link[title*='pledged 3,000,000.00 USD']")).await.unwrap();
        bar.click().await.unwrap();
        until(&client, "the aid records", "return location.pathname === '/aid' && !!document.getElementById('aid-records')").await;
        client.find(Locator::Css("#aid-records a[href='/records/pledge-2022-04-04-usd-3m-justice-hq']")).await.unwrap().click().await.unwrap();
        until(&client, "the record", "return location.pathname.startsWith('/records/') && !!document.querySelector('blockquote.quote')").await;
        let quote = text_of(&client, "blockquote.quote").await;
        assert!(quote.contains("Thủ đô Hà Nội sẽ hỗ trợ Thủ đô Viêng Chăn 3 triệu USD"), "{quote}");
        // …and on to the project's page, which lists it.
        client.find(Locator::Css("a[href='/streams/project:vientiane-justice-prosecutors-hq']")).await.unwrap().click().await.unwrap();
        until(&client, "the project's page", "return !!document.getElementById('stream-records')").await;
        let history = text_of(&client, "#stream-records").await;
        assert!(history.contains("project.launched") && history.contains("aid.pledged"), "{history}");

        // The keyboard: the first Tab shows the skip link, and Tab alone
        // reaches the controls and the charts' links, each with a visible
        // focus ring.
        open(&client, &base, "/?as_of=2025-12-31").await;
        // A Tab pressed on the keyboard (WebDriver actions), not typed into
        // an element (which would focus that element first).
        let tab = |client: &Client| {
            let client = client.clone();
            async move {
                use fantoccini::actions::{InputSource, KeyAction, KeyActions};
                let press = KeyActions::new("keyboard".into())
                    .then(KeyAction::Down { value: '\u{e004}' })
                    .then(KeyAction::Up { value: '\u{e004}' });
                client.perform_actions(press).await.unwrap()
            }
        };
        tab(&client).await;
        let skip = run(&client, "const a = document.activeElement; return [a.className, a.getBoundingClientRect().left >= 0]").await;
        assert_eq!(skip, json!(["skip", true]), "the first Tab lands on a visible skip link");
        let mut reached = Vec::new();
        for _ in 0..40 {
            tab(&client).await;
            let at = run(&client, "const a = document.activeElement;
                return [a.id || a.closest('.spans, .bars, form') && (a.closest('.spans, .bars, form').className), getComputedStyle(a).outlineStyle]").await;
            let (place, outline) = (at[0].as_str().unwrap_or_default().to_string(), at[1].as_str().unwrap_or_default().to_string());
            assert_ne!(outline, "none", "focus is visible on {place}");
            reached.push(place);
            if reached.iter().any(|p| p == "spans") {
                break;
            }
        }
        assert!(reached.iter().any(|p| p == "as_of"), "Tab reaches the as-of control: {reached:?}");
        assert!(reached.iter().any(|p| p == "spans"), "Tab reaches the timeline's links: {reached:?}");

        // Live: records posted while the page is open appear without a
        // reload, and the views with them (a new aid row, a new activity
        // with its Lao title).
        open(&client, &base, "/?as_of=2026-11-20").await;
        run(&client, "window.notReloaded = true; return true").await;
        until(&client, "the live stream", "return document.getElementById('live-status').textContent.startsWith('Live')").await;
        let lao = "ງານວາງສະແດງສິນຄ້າ ນະຄອນຫຼວງວຽງຈັນ";
        post(&base, json!({"id": "browser-activity-lao", "type": "activity.held", "occurred": "2026-11-18",
            "data": {"category": "trade_fair", "title": lao, "parties": ["la/vientiane", "vn/hanoi"]},
            "sources": [{"title": "A test", "quote": "Test quote"}]})).await;
        post(&base, json!({"id": "browser-aid-2026", "type": "aid.delivered", "occurred": "2026-11-19",
            "data": {"donor": "vn/hanoi", "recipient": "la/vientiane", "amount": {"amount": "1234567.50", "currency": "USD"}, "purpose": "thử nghiệm"},
            "sources": [{"title": "A test", "quote": "Test quote"}]})).await;
        until(&client, "record 76 on the page", "return document.getElementById('head-seq').textContent === '76'").await;
        until(&client, "the posted activity", &format!("return document.getElementById('latest').textContent.includes('{lao}') && document.querySelector('.spans').textContent.includes('{lao}')")).await;
        let aid = cells(&client, "aid-money").await;
        assert!(aid.iter().any(|row| row[0] == "2026" && row[3] == "1,234,567.50 USD"), "the new aid row: {aid:?}");
        assert_eq!(run(&client, "return window.notReloaded === true").await, true, "the page was not reloaded");
        numbers_match_the_views(&client, &base, "as_of=2026-11-20").await;

        // Each page at both widths: no sideways scrolling, a screenshot,
        // and no serious accessibility violation.
        let pages = [
            ("overview", "/?as_of=2025-12-31"),
            ("record", "/records/pledge-2022-04-04-usd-3m-justice-hq"),
            ("project", "/streams/project:vientiane-justice-prosecutors-hq"),
            ("aid", "/aid?year=2022&donor=vn%2Fhanoi&recipient=la%2Fvientiane&currency=USD"),
        ];
        for width in [1440, 390] {
            for (name, path) in pages {
                client.set_window_size(width, 900).await.unwrap();
                open(&client, &base, path).await;
                accessible(&client, &axe, &format!("{name} at {width} px")).await;
                at_width(&client, width, name).await;
            }
        }
        client.close().await.unwrap();
    });
}
