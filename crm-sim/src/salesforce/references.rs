//! Reference integrity: every id written to a lookup must be a live record of one of the
//! objects the field refers to, and a Task may not relate a Lead to another record.
//!
//! Codes, as Salesforce answers them: `MALFORMED_ID` for a value that is not an id,
//! `FIELD_INTEGRITY_EXCEPTION` for an id of another object, `INVALID_CROSS_REFERENCE_KEY` for
//! an id of the right object that does not exist (or was deleted).

use serde_json::{Map, Value};

use super::describe::Field;
use super::errors::SfError;
use super::store::OrgState;

/// Whether `text` has the shape of a Salesforce id: 15 or 18 letters and digits.
pub(crate) fn is_id(text: &str) -> bool {
    matches!(text.len(), 15 | 18) && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The error for writing `id` to the reference `field`, if it is not allowed.
pub(crate) fn check(state: &OrgState, field: &Field, id: &str) -> Option<SfError> {
    let fields = vec![field.name.clone()];
    let wrong_type = format!("{}: id value of incorrect type: {id}", field.label);
    if !is_id(id) {
        return Some(SfError::on_fields("MALFORMED_ID", wrong_type, fields));
    }
    let target = state.schema.object_for_id(id).map(|o| o.name.clone());
    let allowed = target
        .as_deref()
        .filter(|t| field.reference_to.iter().any(|r| r.eq_ignore_ascii_case(t)));
    let Some(target) = allowed else {
        let code = "FIELD_INTEGRITY_EXCEPTION";
        return Some(SfError::on_fields(code, wrong_type, fields));
    };
    if state.get(target, id).is_none() {
        let code = "INVALID_CROSS_REFERENCE_KEY";
        return Some(SfError::on_fields(
            code,
            "invalid cross reference id",
            fields,
        ));
    }
    None
}

/// The Task rule: a task whose `WhoId` is a Lead cannot also have a `WhatId`, since a lead
/// belongs to no account or opportunity yet. `values` are the checked values being written;
/// `stored` the record before an update.
pub(crate) fn task_rule(
    state: &OrgState,
    values: &Map<String, Value>,
    stored: Option<&Map<String, Value>>,
) -> Option<SfError> {
    let after = |name: &str| match values.get(name) {
        Some(value) => value.as_str().map(str::to_owned),
        None => stored?.get(name)?.as_str().map(str::to_owned),
    };
    let who = after("WhoId")?;
    let what = after("WhatId")?;
    let who_object = state.schema.object_for_id(&who)?;
    if who_object.name != "Lead" {
        return None;
    }
    let message = format!(
        "field integrity exception: WhoId, WhatId (a task whose WhoId is the Lead {who} \
         cannot have a WhatId: {what})"
    );
    let fields = vec!["WhoId".to_owned(), "WhatId".to_owned()];
    Some(SfError::on_fields(
        "FIELD_INTEGRITY_EXCEPTION",
        message,
        fields,
    ))
}
