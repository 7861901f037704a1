//! Reading a request out of a Jira issue's fields, by the ids `[jira.fields]` names.
//!
//! Jira gives a field's value in the shape of its type: text (a string), a number, a select
//! (`{"value": ...}`), labels (an array of strings), or a paragraph in Atlassian Document Format
//! (REST v3). Every shape that can hold the value is accepted; anything else is a problem that
//! the issue's comment names, field by field.

use super::settings::JiraFields;
use crate::domain::{ImageNo, LoginId, ShareDuration};
use crate::notify::jira::render::{clip, plain_text};
use serde_json::Value;

/// What an issue asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The image.
    pub image: ImageNo,
    /// The login IDs.
    pub targets: Vec<LoginId>,
    /// How long.
    pub duration: Option<ShareDuration>,
    /// Why (the reason field, else the summary).
    pub reason: Option<String>,
}

/// A field's value as text, whatever its shape; `None` when empty or absent.
pub fn field_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            // Number fields come back as floats (`1234567.0`).
            Some(f) if f.fract() == 0.0 && (0.0..1e15).contains(&f) => format!("{}", f as u64),
            _ => n.to_string(),
        },
        Value::Array(items) => items
            .iter()
            .filter_map(field_text)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => plain_text(v),
        Value::Object(o) => match o.get("value").or_else(|| o.get("name")) {
            Some(inner) => return field_text(inner),
            None => return None,
        },
        Value::Bool(_) => return None,
    };
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Reads the request from `fields`; the error lists every problem, one sentence each.
pub fn parse(fields: &Value, map: &JiraFields) -> Result<IssueRequest, Vec<String>> {
    let mut problems = Vec::new();
    let get = |id: &str| fields.get(id).and_then(field_text);

    let image = match get(&map.image) {
        None => {
            problems.push(format!("The image number field ({}) is empty.", map.image));
            None
        }
        Some(t) => match ImageNo::parse(&t) {
            Ok(no) => Some(no),
            Err(e) => {
                problems.push(format!(
                    "The image number field ({}): {}",
                    map.image,
                    clip(&e.0)
                ));
                None
            }
        },
    };

    let mut targets = Vec::new();
    match get(&map.targets) {
        None => problems.push(format!(
            "The target login IDs field ({}) is empty: name at least one login ID.",
            map.targets
        )),
        Some(t) => {
            for part in t
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|p| !p.is_empty())
            {
                match LoginId::parse(part) {
                    Ok(id) => targets.push(id),
                    Err(e) => problems.push(format!(
                        "The target login IDs field ({}): {}",
                        map.targets,
                        clip(&e.0)
                    )),
                }
            }
        }
    }

    let duration = match map.duration.as_deref().and_then(get) {
        None => None,
        Some(t) => match ShareDuration::parse(&t) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!(
                    "The duration field ({}): {}",
                    map.duration.as_deref().unwrap_or_default(),
                    clip(&e.0)
                ));
                None
            }
        },
    };

    let reason = map
        .reason
        .as_deref()
        .and_then(get)
        .or_else(|| get("summary"))
        .map(|r| clip(&r));

    match image {
        Some(image) if problems.is_empty() => Ok(IssueRequest {
            image,
            targets,
            duration,
            reason,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map() -> JiraFields {
        JiraFields {
            image: "customfield_1".into(),
            targets: "customfield_2".into(),
            duration: Some("customfield_3".into()),
            reason: Some("customfield_4".into()),
        }
    }

    #[test]
    fn every_shape_jira_uses_is_read() {
        let fields = json!({
            "summary": "pilot",
            "customfield_1": 1234567.0,
            "customfield_2": ["a@partner.example", "b@partner.example"],
            "customfield_3": {"value": "7d", "id": "100"},
            "customfield_4": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "partner pilot"}]}]}
        });
        let r = parse(&fields, &map()).unwrap();
        assert_eq!(r.image.as_str(), "1234567");
        assert_eq!(r.targets.len(), 2);
        assert_eq!(r.duration.unwrap().to_string(), "7d");
        assert_eq!(r.reason.as_deref(), Some("partner pilot"));

        let text = json!({"summary": "s", "customfield_1": " 1234567 ", "customfield_2": "a@partner.example,\nb@partner.example"});
        let r = parse(&text, &map()).unwrap();
        assert_eq!(r.targets.len(), 2);
        assert_eq!(r.duration, None);
        assert_eq!(
            r.reason.as_deref(),
            Some("s"),
            "the summary is the fallback reason"
        );
    }

    #[test]
    fn every_problem_is_named() {
        let fields = json!({"customfield_1": "12ab", "customfield_2": "<!channel>", "customfield_3": "forever"});
        let problems = parse(&fields, &map()).unwrap_err();
        assert!(problems.len() >= 3, "{problems:?}");
        assert!(problems[0].contains("image number"));
        assert!(problems.iter().any(|p| p.contains("target login IDs")));
        assert!(problems.iter().any(|p| p.contains("duration")));
        let empty = parse(&json!({}), &map()).unwrap_err();
        assert_eq!(empty.len(), 2, "{empty:?}");
    }
}
