//! `--format table|json|ndjson|csv` for `log`, `view` and `history`: the
//! same rows as the table, for programs. JSON and NDJSON keep the records
//! and views exactly as the ledger and the spec shape them; CSV flattens a
//! row's lists into `a; b` and money into `amount currency`.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::borrow::Borrow;

/// One row: its columns in order.
pub type Row = Vec<(String, Value)>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people (the default).
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
}

/// One CSV cell: text as it is, lists joined by `; `, money as `amount
/// currency`, other objects as compact JSON, null as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join("; "),
        Value::Object(object) => match (object.get("amount"), object.get("currency")) {
            (Some(amount), Some(Value::String(currency))) => format!("{} {currency}", cell(amount)),
            _ => value.to_string(),
        },
        other => other.to_string(),
    }
}

/// Rows as CSV: the header is every column in order of first appearance.
pub fn csv(rows: &[Row]) -> Result<String> {
    csv_of(|| rows.iter())
}

/// [`csv`] of rows made on demand, walked twice (once for the header's
/// columns, once to write them), so that a large view is never held as
/// rows all at once.
pub fn csv_of<R: Borrow<Row>, I: Iterator<Item = R>>(rows: impl Fn() -> I) -> Result<String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows() {
        for (key, _) in row.borrow() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let get = |row: &Row, column: &String| row.iter().find(|(k, _)| k == column).map(|(_, v)| cell(v));
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| Error::io("writing CSV", std::io::Error::other(e));
    writer.write_record(&columns).map_err(failed)?;
    for row in rows() {
        writer.write_record(columns.iter().map(|c| get(row.borrow(), c).unwrap_or_default())).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::io("writing CSV", std::io::Error::other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// Rows as NDJSON.
pub fn ndjson(rows: impl Iterator<Item = Row>) -> String {
    let object = |row: Row| Value::Object(row.into_iter().collect::<Map<String, Value>>()).to_string();
    rows.map(object).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_flattens_lists_and_money_and_quotes_what_needs_it() {
        let row = |list: &str, pairs: Value| -> Row {
            let mut row = vec![("list".to_string(), Value::from(list))];
            row.extend(pairs.as_object().unwrap().clone());
            row
        };
        let rows = vec![
            row("items", json!({"item": "khẩu trang, \"y tế\"", "parties": ["a", "b"], "year": "undated"})),
            row(
                "money",
                json!({"donor": "vn/hanoi", "pledged": {"amount": "3000000.00", "currency": "USD"}, "year": 2022}),
            ),
        ];
        let text = csv(&rows).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "list,item,parties,year,donor,pledged");
        assert_eq!(lines[1], "items,\"khẩu trang, \"\"y tế\"\"\",a; b,undated,,");
        assert_eq!(lines[2], "money,,,2022,vn/hanoi,3000000.00 USD");
        assert_eq!(ndjson(rows.into_iter()).lines().count(), 2);
    }
}
