//! Duplicate rules declared per org: a create or update that would leave a record matching
//! another on every `match_fields` value (text ignoring case) is refused with
//! `DUPLICATES_DETECTED` and Salesforce's `duplicateResult`. A rule with `action: allow` lets
//! the save through when the call sends `Sforce-Duplicate-Rule-Header: allowSave=true`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::API_VERSION;
use super::errors::SfError;
use super::store::OrgState;

/// The message Salesforce's standard duplicate rules refuse with.
const MESSAGE: &str =
    "You're creating a duplicate record. We recommend you use an existing record instead.";

/// A duplicate rule, from the profile's `duplicate_rules`:
///
/// ```yaml
/// duplicate_rules:
///   - { object: Lead, name: Standard_Lead_Duplicate_Rule, match_fields: [Email],
///       action: block }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRule {
    /// The object it watches.
    pub object: String,
    /// Its API name.
    pub name: String,
    /// The fields whose values must all match (and be set) for two records to be duplicates.
    pub match_fields: Vec<String>,
    /// `block` (the default) or `allow` (saved when the caller allows duplicates).
    #[serde(default = "block")]
    pub action: String,
}

fn block() -> String {
    "block".to_owned()
}

fn text_of(record: &Map<String, Value>, field: &str) -> Option<String> {
    let value = record
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(field))
        .map(|(_, v)| v)?;
    match value {
        Value::String(s) if !s.is_empty() => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The error of the first rule on `object` that `record` (the record after the write, `self_id`
/// for an update) breaks.
pub(crate) fn refusal(
    state: &OrgState,
    object: &str,
    record: &Map<String, Value>,
    self_id: Option<&str>,
    allow_save: bool,
) -> Option<SfError> {
    let rules = state
        .duplicate_rules
        .iter()
        .filter(|r| r.object.eq_ignore_ascii_case(object));
    for rule in rules {
        if rule.action == "allow" && allow_save {
            continue;
        }
        let Some(key) = rule
            .match_fields
            .iter()
            .map(|f| text_of(record, f))
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        let matches: Vec<String> = state
            .records_of(object)
            .filter(|r| r.get("Id").and_then(Value::as_str) != self_id)
            .filter(|r| {
                let other: Option<Vec<String>> =
                    rule.match_fields.iter().map(|f| text_of(r, f)).collect();
                other.as_ref() == Some(&key)
            })
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if matches.is_empty() {
            continue;
        }
        let records: Vec<Value> = matches
            .iter()
            .map(|id| {
                json!({
                    "additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                    "record": {
                        "attributes": {
                            "type": object,
                            "url": format!("/services/data/{API_VERSION}/sobjects/{object}/{id}"),
                        },
                        "Id": id,
                    },
                })
            })
            .collect();
        let result = json!({
            "allowSave": rule.action == "allow",
            "duplicateRule": rule.name,
            "duplicateRuleEntityType": object,
            "errorMessage": MESSAGE,
            "matchResults": [{
                "entityType": object, "errorMessage": null, "matchEngine": "ExactMatchEngine",
                "matchRecords": records, "rule": format!("{}_Match_Rule", rule.name),
                "size": matches.len(), "success": true,
            }],
        });
        return Some(SfError::bare("DUPLICATES_DETECTED", MESSAGE).with_duplicates(result));
    }
    None
}
