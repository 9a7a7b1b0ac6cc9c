//! What a person reads: tables with headers, labelled detail views, times, and audit changes in
//! words rather than JSON.

use serde_json::Value;

/// Rows under headers, each column as wide as its widest cell.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// One row; a cell's line breaks become spaces so that rows stay one line each.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| c.into().replace(['\r', '\n'], " "))
                .collect(),
        );
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, cell) in cells.take(columns).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut self.headers.iter().copied());
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }

    /// Prints the table, or `empty` when it has no rows.
    pub(crate) fn print(&self, empty: &str) {
        if self.rows.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", self.render());
        }
    }
}

/// A detail view: one labelled value a line, the values aligned.
#[derive(Default)]
pub(crate) struct Details {
    rows: Vec<(&'static str, String)>,
}

impl Details {
    /// An empty value shows as `-`.
    pub(crate) fn field(&mut self, label: &'static str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        self.rows.push((
            label,
            if value.trim().is_empty() {
                "-".into()
            } else {
                value
            },
        ));
        self
    }

    pub(crate) fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.rows {
            let pad = width - label.chars().count();
            out.push_str(&format!("  {label}{}  {value}\n", " ".repeat(pad)));
        }
        out
    }
}

/// A time as people read it, in UTC (headers and labels say so): `2026-12-01 23:05`.
pub(crate) fn time(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(ps_proto::convert::from_timestamp)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// [`time`] with its zone, for detail views and sentences.
pub(crate) fn time_utc(at: Option<&prost_types::Timestamp>) -> String {
    match at {
        Some(_) => format!("{} UTC", time(at)),
        None => "-".into(),
    }
}

pub(crate) fn date(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(ps_proto::convert::from_timestamp)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Whether `text` is a UUID (the services' ids all are).
pub(crate) fn is_id(text: &str) -> bool {
    uuid::Uuid::parse_str(text.trim()).is_ok()
}

/// Every id inside an audit entry's JSON, to look their names up before printing.
pub(crate) fn ids_in(json: &str) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if is_id(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(json) {
        walk(&value, &mut out);
    }
    out
}

/// The ids audit entries mention — inside their before and after, and whom each is about —
/// to look their names up in one go before printing.
pub(crate) fn ids_mentioned<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<String> {
    entries
        .into_iter()
        .flat_map(|(before, after, about)| {
            let mut ids = ids_in(before);
            ids.extend(ids_in(after));
            ids.push(about.to_owned());
            ids
        })
        .collect()
}

/// Keys of audit entries that hold the id of a record with no name of its own (an offboarding,
/// an invitation, a step): left out of the readable change; the entry's action says what it was.
const HIDDEN_KEYS: [&str; 5] = [
    "workflow_id",
    "step_id",
    "offboarding_id",
    "membership_id",
    "invitation_id",
];

/// An audit entry's before and after (JSON objects of the changed fields) in words, such as
/// `role: Member → Account Manager` or `role: Approver; status: active → revoked`. Ids become
/// names through `name`; an unchanged id is kept as the context of the change (which role,
/// which workflow), other unchanged fields are left out. Anything that is not a JSON object is
/// shown as it came.
pub(crate) fn change(before: &str, after: &str, name: &dyn Fn(&str) -> Option<String>) -> String {
    let object = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(Value::Null) => Some(serde_json::Map::new()),
        Err(_) if text.trim().is_empty() => Some(serde_json::Map::new()),
        _ => None,
    };
    let (Some(old), Some(new)) = (object(before), object(after)) else {
        return format!("{before} → {after}");
    };
    // Ids first (what the change is about), then the rest by name, whatever order the JSON
    // library keeps.
    let mut keys: Vec<&String> = old.keys().collect();
    keys.extend(new.keys().filter(|k| !old.contains_key(*k)));
    keys.sort_by_key(|k| (!k.ends_with("_id"), k.as_str()));
    let mut context = Vec::new();
    let mut parts = Vec::new();
    for key in keys {
        // References to records people do not read by name (as the console leaves them out).
        if HIDDEN_KEYS.contains(&key.as_str()) {
            continue;
        }
        let label = label(key);
        let shown = |v: &Value| value(key, v, name);
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a == b => {
                if key.ends_with("_id") {
                    context.push(format!("{label}: {}", shown(a)));
                }
            }
            (Some(a), Some(b)) => parts.push(format!("{label}: {} → {}", shown(a), shown(b))),
            // A new field with nothing in it says nothing.
            (None, Some(Value::Null)) => {}
            (None, Some(Value::Array(items))) if items.is_empty() => {}
            (None, Some(b)) => parts.push(format!("{label}: {}", shown(b))),
            (Some(a), None) => parts.push(format!("{label}: {} → -", shown(a))),
            (None, None) => {}
        }
    }
    context.extend(parts);
    context.join("; ")
}

/// `role_id` → `role`, `location_ids` → `locations`, `require_acceptance` → `require acceptance`.
fn label(key: &str) -> String {
    let base = if let Some(stem) = key.strip_suffix("_ids") {
        format!("{stem}s")
    } else {
        key.strip_suffix("_id").unwrap_or(key).to_owned()
    };
    base.replace('_', " ")
}

fn value(key: &str, v: &Value, name: &dyn Fn(&str) -> Option<String>) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_id(s) => name(s).unwrap_or_else(|| s.clone()),
        // Enumerations the services store in snake case: account_manager → account manager.
        Value::String(s) if matches!(key, "role" | "status" | "certification_status") => {
            s.replace('_', " ")
        }
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| value(key, i, name))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) => match map.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => map
                .iter()
                .map(|(k, v)| format!("{} {}", label(k), value(k, v, name)))
                .collect::<Vec<_>>()
                .join(" "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_under_their_headers() {
        let mut t = Table::new(&["NAME", "ROLE", "STATUS"]);
        t.row(["Olive Owner", "Account Owner", "Active"]);
        t.row(["Bea", "Member", "Pending\nsince today"]);
        assert_eq!(
            t.render(),
            "NAME         ROLE           STATUS\n\
             Olive Owner  Account Owner  Active\n\
             Bea          Member         Pending since today\n"
        );
    }

    #[test]
    fn details_align_labels_and_mark_empty_values() {
        let mut d = Details::default();
        d.field("Name", "Bea").field("User id", "");
        assert_eq!(d.render(), "  Name     Bea\n  User id  -\n");
    }

    #[test]
    fn audit_changes_read_as_words() {
        let role = "0193a1b2-0000-7000-8000-000000000001";
        let location = "0193a1b2-0000-7000-8000-000000000002";
        let names = |id: &str| match id {
            _ if id == role => Some("Approver".to_owned()),
            _ if id == location => Some("North Clinic".to_owned()),
            _ => None,
        };
        let cases: [(&str, &str, String); 8] = [
            (
                r#"{"role":"member"}"#,
                r#"{"role":"account_manager"}"#,
                "role: member → account manager".into(),
            ),
            (
                "null",
                &format!(
                    r#"{{"role_id":"{role}","location_ids":["{location}"],"status":"invited"}}"#
                ),
                "role: Approver; locations: North Clinic; status: invited".into(),
            ),
            (
                &format!(r#"{{"role_id":"{role}","location_ids":[],"status":"active"}}"#),
                &format!(r#"{{"role_id":"{role}","location_ids":[],"status":"revoked"}}"#),
                "role: Approver; status: active → revoked".into(),
            ),
            (
                r#"{"require_acceptance":false}"#,
                r#"{"require_acceptance":true}"#,
                "require acceptance: no → yes".into(),
            ),
            (r#"{"name":"Old"}"#, "{}", "name: Old → -".into()),
            (
                r#"{"staff_id":"0193a1b2-0000-7000-8000-00000000000f"}"#,
                r#"{"staff_id":"0193a1b2-0000-7000-8000-00000000000f"}"#,
                "staff: 0193a1b2-0000-7000-8000-00000000000f".into(),
            ),
            ("not json", "{}", "not json → {}".into()),
            (
                r#"{"status":"active"}"#,
                &format!(
                    r#"{{"status":"offboarding","offboarding_id":"0193a1b2-0000-7000-8000-0000000000aa","replacement_id":"{location}"}}"#
                ),
                "replacement: North Clinic; status: active → offboarding".into(),
            ),
        ];
        for (before, after, expected) in cases {
            assert_eq!(
                change(before, after, &names),
                expected,
                "{before} → {after}"
            );
        }
    }

    #[test]
    fn ids_are_found_anywhere_in_an_entry() {
        let json = r#"{"role_id":"0193a1b2-0000-7000-8000-000000000001","steps":[{"approvers":["0193a1b2-0000-7000-8000-000000000002"]}],"name":"x"}"#;
        assert_eq!(
            ids_in(json),
            [
                "0193a1b2-0000-7000-8000-000000000001",
                "0193a1b2-0000-7000-8000-000000000002"
            ]
        );
    }
}
