//! `--format table|json|ndjson|csv` for `log`, `view` and `history`: the
//! same rows as the table, for programs. JSON and NDJSON keep the records
//! and views exactly as the ledger and the spec shape them; CSV flattens a
//! row's lists into `a; b` and money into `amount currency`.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

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

/// The rows of a view's JSON: every object of each of its lists, with a
/// `list` column naming the list when the view has more than one (aid has
/// `money` and `items`).
pub fn view_rows(view: &Value) -> Vec<Row> {
    let lists: Vec<(&String, &Vec<Value>)> =
        view.as_object().into_iter().flatten().filter_map(|(name, v)| Some((name, v.as_array()?))).collect();
    let named = lists.len() > 1;
    let mut rows = Vec::new();
    for (name, items) in lists {
        for item in items {
            let Some(object) = item.as_object() else { continue };
            let mut row = Row::new();
            if named {
                row.push(("list".into(), Value::String(name.clone())));
            }
            row.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())));
            rows.push(row);
        }
    }
    rows
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
    let mut columns: Vec<&String> = Vec::new();
    for row in rows {
        for (key, _) in row {
            if !columns.contains(&key) {
                columns.push(key);
            }
        }
    }
    let get = |row: &Row, column: &String| row.iter().find(|(k, _)| k == column).map(|(_, v)| cell(v));
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| Error::io("writing CSV", std::io::Error::other(e));
    writer.write_record(&columns).map_err(failed)?;
    for row in rows {
        writer.write_record(columns.iter().map(|c| get(row, c).unwrap_or_default())).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::io("writing CSV", std::io::Error::other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// Rows as NDJSON.
pub fn ndjson(rows: &[Row]) -> String {
    let object = |row: &Row| Value::Object(row.iter().cloned().collect::<Map<String, Value>>()).to_string();
    rows.iter().map(object).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_flattens_lists_and_money_and_quotes_what_needs_it() {
        let view = json!({"at_seq": 3, "money": [{"year": 2022, "donor": "vn/hanoi", "pledged": {"amount": "3000000.00", "currency": "USD"}}],
            "items": [{"year": "undated", "item": "khẩu trang, \"y tế\"", "parties": ["a", "b"]}]});
        let rows = view_rows(&view);
        assert_eq!(rows.len(), 2);
        let text = csv(&rows).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "list,item,parties,year,donor,pledged");
        assert_eq!(lines[1], "items,\"khẩu trang, \"\"y tế\"\"\",a; b,undated,,");
        assert_eq!(lines[2], "money,,,2022,vn/hanoi,3000000.00 USD");
        assert_eq!(ndjson(&rows).lines().count(), 2);
    }
}
