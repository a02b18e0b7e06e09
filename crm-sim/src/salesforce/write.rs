//! The checks Salesforce applies to every write, shared by single-record and collection calls.
//!
//! Codes, in the order they are checked: `INVALID_FIELD` (no such field),
//! `INVALID_FIELD_FOR_INSERT_UPDATE` (not createable / updateable), `JSON_PARSER_ERROR` (a value
//! of the wrong JSON type or an unparsable number, date or datetime; Salesforce fails the whole
//! request while deserializing, so collections answer it for the whole call too),
//! `REQUIRED_FIELD_MISSING`, `STRING_TOO_LONG`, `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`,
//! the reference checks of [`references`] (`MALFORMED_ID`, `FIELD_INTEGRITY_EXCEPTION`,
//! `INVALID_CROSS_REFERENCE_KEY`), `DUPLICATE_VALUE`, the Task rules and the org's validation
//! rules (`FIELD_CUSTOM_VALIDATION_EXCEPTION`) and duplicate rules (`DUPLICATES_DETECTED`).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value, json};

use super::describe::{Field, SObject};
use super::errors::SfError;
use super::store::OrgState;
use super::{duplicates, references, rules, validation};

/// Whether a write creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A create: createable fields, required fields.
    Create,
    /// An update: updateable fields.
    Update,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteFailure {
    /// The body could not be deserialized; fails the whole request.
    Parse(SfError),
    /// The record broke one or more rules.
    Record(Vec<SfError>),
}

/// Checks `input` against `object`'s schema and returns the values to store, normalized
/// (numbers as JSON numbers, dates `YYYY-MM-DD`, datetimes `...T..:..:...000+0000`).
pub(crate) fn check(
    state: &OrgState,
    object: &SObject,
    input: &Map<String, Value>,
    op: Op,
    self_id: Option<&str>,
) -> Result<Map<String, Value>, WriteFailure> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    let mut locked = Vec::new();
    let entries = input
        .iter()
        .filter(|(k, _)| k.as_str() != "attributes" && k.as_str() != "Id");

    for (key, value) in entries {
        let field = object
            .field(key)
            .filter(|f| !state.is_hidden(&object.name, &f.name));
        let Some(field) = field else {
            return Err(WriteFailure::Record(vec![SfError::bare(
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {}", object.name),
            )]));
        };
        let allowed = match op {
            Op::Create => field.createable,
            Op::Update => field.updateable,
        } && !state.is_read_only(&object.name, &field.name);
        if !allowed {
            locked.push(field.name.clone());
            continue;
        }
        out.insert(
            field.name.clone(),
            normalize(field, value).map_err(WriteFailure::Parse)?,
        );
    }
    if !locked.is_empty() {
        let message = format!(
            "Unable to create/update fields: {}. Please check the security settings of this \
             field and verify that it is read/write for your profile or permission set.",
            locked.join(", ")
        );
        return Err(WriteFailure::Record(vec![SfError::on_fields(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            message,
            locked,
        )]));
    }

    let missing: Vec<String> = object
        .fields
        .iter()
        .filter(|f| match op {
            Op::Create => f.required_on_create() && out.get(&f.name).is_none_or(Value::is_null),
            Op::Update => !f.nillable && out.get(&f.name).is_some_and(Value::is_null),
        })
        .map(|f| f.name.clone())
        .collect();
    if !missing.is_empty() {
        let message = format!("Required fields are missing: [{}]", missing.join(", "));
        errors.push(SfError::on_fields(
            "REQUIRED_FIELD_MISSING",
            message,
            missing,
        ));
    }

    for (name, value) in &out {
        let Some(field) = object.field(name) else {
            continue;
        };
        if let Some(error) = check_value(state, object, field, value, self_id) {
            errors.push(error);
        }
    }
    let stored = self_id.and_then(|id| state.get(&object.name, id));
    if object.name == "Task" && errors.is_empty() {
        errors.extend(references::task_rule(state, &out, stored));
    }
    if errors.is_empty() {
        let mut after = stored.cloned().unwrap_or_default();
        after.extend(out.iter().map(|(k, v)| (k.clone(), v.clone())));
        errors.extend(validation::refusals(
            &state.validation_rules,
            &object.name,
            &after,
        ));
        let allow = state.caller.as_ref().is_some_and(|c| c.allow_duplicates);
        if errors.is_empty() {
            errors.extend(duplicates::refusal(
                state,
                &object.name,
                &after,
                self_id,
                allow,
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(WriteFailure::Record(errors))
    }
}

/// The rules about one value that need the org's data: length, picklists, references, unique.
fn check_value(
    state: &OrgState,
    object: &SObject,
    field: &Field,
    value: &Value,
    self_id: Option<&str>,
) -> Option<SfError> {
    let text = value.as_str()?;
    let fields = vec![field.name.clone()];
    let text_kind = matches!(
        field.kind.as_str(),
        "string" | "textarea" | "email" | "phone" | "url" | "encryptedstring" | "combobox"
    );
    if text_kind && field.length > 0 && text.chars().count() as u64 > field.length {
        let message = format!(
            "{}: data value too large: {} (max length={})",
            field.label, text, field.length
        );
        return Some(SfError::on_fields("STRING_TOO_LONG", message, fields));
    }
    if field.restricted_picklist && matches!(field.kind.as_str(), "picklist" | "multipicklist") {
        let bad = text
            .split(';')
            .find(|v| !field.picklist.iter().any(|p| p == v));
        if let Some(bad) = bad {
            let message = format!(
                "{}: bad value for restricted picklist field: {bad}",
                field.label
            );
            return Some(SfError::on_fields(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                message,
                fields,
            ));
        }
    }
    if field.kind == "reference"
        && let Some(error) = references::check(state, field, text)
    {
        return Some(error);
    }
    if field.unique {
        let candidates = state.candidates(&object.name, &field.name, text);
        let existing = candidates
            .iter()
            .filter_map(|id| state.get(&object.name, id))
            .find(|r| {
                r.get(&field.name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(text))
                    && r.get("Id").and_then(Value::as_str) != self_id
            });
        if let Some(existing) = existing {
            let id = existing
                .get("Id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let message = format!(
                "duplicate value found: {} duplicates value on record with id: {id}",
                field.name
            );
            return Some(SfError::on_fields("DUPLICATE_VALUE", message, Vec::new()));
        }
    }
    None
}

/// Whether every value of `input` that names a field of `object` parses as
/// that field's type: the `JSON_PARSER_ERROR` that refuses a whole request.
/// Unknown objects and fields are left to the per-record checks.
pub(crate) fn deserializable(
    state: &OrgState,
    object: &str,
    input: &Map<String, Value>,
) -> Result<(), SfError> {
    let Some(object) = state.schema.object(object) else {
        return Ok(());
    };
    for (key, value) in input {
        if let Some(field) = object.field(key) {
            normalize(field, value)?;
        }
    }
    Ok(())
}

/// Converts a JSON value to what Salesforce stores for `field`'s type, or the parser error.
pub(crate) fn normalize(field: &Field, value: &Value) -> Result<Value, SfError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let refuse = |expected: &str| {
        SfError::bare(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {expected} from {} value {} \
                 or request may be missing a required field",
                token_name(value),
                value_text(value)
            ),
        )
    };
    match field.kind.as_str() {
        "boolean" => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s == "true" || s == "false" => Ok(json!(s == "true")),
            _ => Err(refuse("boolean")),
        },
        "double" | "currency" | "percent" | "int" => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let expected = if field.kind == "int" { "int" } else { "double" };
            match number {
                Some(n) if field.kind == "int" && n.fract() == 0.0 => Ok(json!(n as i64)),
                Some(n) if field.kind != "int" => Ok(json!(n)),
                _ => Err(refuse(expected)),
            }
        }
        "date" => value
            .as_str()
            .and_then(parse_date)
            .map(|d| json!(d))
            .ok_or_else(|| refuse("date")),
        "datetime" => value
            .as_str()
            .and_then(parse_datetime)
            .map(|d| json!(d))
            .ok_or_else(|| refuse("datetime")),
        _ => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(json!(n.to_string())),
            Value::Bool(b) => Ok(json!(b.to_string())),
            _ => Err(refuse("string")),
        },
    }
}

/// Parses a date as Salesforce accepts it, returning `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// Parses a datetime (ISO 8601 with `Z` or an offset, or a bare date) into Salesforce's format.
pub(crate) fn parse_datetime(text: &str) -> Option<String> {
    let format = "%Y-%m-%dT%H:%M:%S%.3f+0000";
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&chrono::Utc).format(format).to_string());
    }
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&chrono::Utc).format(format).to_string());
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(dt.format(format).to_string());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.format(format).to_string())
}

fn token_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Creates a record after the checks; returns its Id.
pub(crate) fn create(
    state: &mut OrgState,
    object: &str,
    input: &Map<String, Value>,
) -> Result<String, WriteFailure> {
    let Some(sobject) = state.schema.object(object).cloned() else {
        return Err(WriteFailure::Record(vec![SfError::bare(
            "NOT_FOUND",
            format!("sObject type '{object}' is not supported."),
        )]));
    };
    let fields = check(state, &sobject, input, Op::Create, None)?;
    let id = state.insert_unchecked(&sobject.name, fields);
    rules::after_create(state, &sobject.name, &id);
    Ok(id)
}

/// Updates a record after the checks.
pub(crate) fn update(
    state: &mut OrgState,
    object: &str,
    id: &str,
    input: &Map<String, Value>,
) -> Result<(), WriteFailure> {
    let Some(sobject) = state.schema.object(object).cloned() else {
        return Err(WriteFailure::Record(vec![SfError::bare(
            "NOT_FOUND",
            format!("sObject type '{object}' is not supported."),
        )]));
    };
    let Some(full_id) = state
        .get(&sobject.name, id)
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        let error = SfError::on_fields(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            Vec::new(),
        );
        return Err(WriteFailure::Record(vec![error]));
    };
    let fields = check(state, &sobject, input, Op::Update, Some(&full_id))?;
    state.update_unchecked(&sobject.name, &full_id, fields);
    rules::after_update(state, &sobject.name, &full_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::Profile;
    use crate::salesforce::describe::Schema;

    fn state() -> OrgState {
        let profile = Profile::default();
        let schema = Schema::load(&profile.custom_fields, &profile.custom_objects).expect("schema");
        OrgState::new(
            schema,
            profile.oauth_clients,
            std::time::Duration::from_secs(60),
        )
    }

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn codes(result: Result<String, WriteFailure>) -> Vec<&'static str> {
        match result {
            Ok(_) => Vec::new(),
            Err(WriteFailure::Parse(e)) => vec![e.code],
            Err(WriteFailure::Record(errors)) => errors.iter().map(|e| e.code).collect(),
        }
    }

    #[test]
    fn required_restricted_and_duplicates_are_refused() {
        let mut s = state();
        let ok = json!({
            "Name": "A", "StageName": "Prospecting", "CloseDate": "2024-01-31",
            "External_Id__c": "x1"
        });
        assert!(create(&mut s, "Opportunity", &fields(ok.clone())).is_ok());
        assert_eq!(
            codes(create(&mut s, "Opportunity", &fields(json!({"Name": "B"})))),
            ["REQUIRED_FIELD_MISSING"]
        );
        assert_eq!(
            codes(create(&mut s, "Opportunity", &fields(ok))),
            ["DUPLICATE_VALUE"]
        );
        let bad = json!({
            "Name": "C", "StageName": "Prospecting", "CloseDate": "2024-01-31",
            "Product__c": "Nope"
        });
        assert_eq!(
            codes(create(&mut s, "Opportunity", &fields(bad))),
            ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
        );
    }

    #[test]
    fn a_unique_value_is_free_again_once_changed_or_deleted() {
        let mut s = state();
        let deal = |key: &str| {
            let deal = json!({"Name": "A", "StageName": "Prospecting",
                "CloseDate": "2024-01-31", "External_Id__c": key});
            fields(deal)
        };
        let first = create(&mut s, "Opportunity", &deal("k1")).expect("created");
        assert_eq!(
            codes(create(&mut s, "Opportunity", &deal("K1"))),
            ["DUPLICATE_VALUE"]
        );

        let renamed = fields(json!({"External_Id__c": "k2"}));
        assert!(update(&mut s, "Opportunity", &first, &renamed).is_ok());
        assert!(create(&mut s, "Opportunity", &deal("k1")).is_ok());
        assert_eq!(
            codes(create(&mut s, "Opportunity", &deal("k2"))),
            ["DUPLICATE_VALUE"]
        );

        assert!(s.delete("Opportunity", &first));
        assert!(create(&mut s, "Opportunity", &deal("k2")).is_ok());
    }

    #[test]
    fn types_fields_and_references_are_checked() {
        let mut s = state();
        assert_eq!(
            codes(create(
                &mut s,
                "Account",
                &fields(json!({"Name": "A", "Bogus": 1}))
            )),
            ["INVALID_FIELD"]
        );
        assert_eq!(
            codes(create(
                &mut s,
                "Account",
                &fields(json!({"Name": "A", "CreatedDate": "2024-01-01"}))
            )),
            ["INVALID_FIELD_FOR_INSERT_UPDATE"]
        );
        assert_eq!(
            codes(create(
                &mut s,
                "Account",
                &fields(json!({"Name": "A", "AnnualRevenue": "lots"}))
            )),
            ["JSON_PARSER_ERROR"]
        );
        assert_eq!(
            codes(create(
                &mut s,
                "Account",
                &fields(json!({"Name": "A".repeat(256)}))
            )),
            ["STRING_TOO_LONG"]
        );
        assert_eq!(
            codes(create(
                &mut s,
                "Contact",
                &fields(json!({"LastName": "L", "AccountId": "001000000000000AAA"}))
            )),
            ["INVALID_CROSS_REFERENCE_KEY"]
        );
    }

    #[test]
    fn datetimes_are_normalized() {
        assert_eq!(
            parse_datetime("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02T03:04:05.000+0000")
        );
        assert_eq!(
            parse_datetime("2024-01-02").as_deref(),
            Some("2024-01-02T00:00:00.000+0000")
        );
        assert_eq!(parse_date("2024-13-02"), None);
    }
}
