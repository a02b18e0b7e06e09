//! Translation between the host's own types ([`crate::record`],
//! [`crate::schema`]) and the contract's generated types.
//!
//! Host to plugin cannot fail. Plugin to host can: the contract carries dates
//! as text, and a plugin may send text that is not a date.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::bindings::types as wit;
use crate::record::{
    Activity, ActivityKind, AgentRecord, Association, CrmRecord, CrmWrite, Fields, MatchKey,
    Operation, RelatedRecord, Target, Value,
};
use crate::schema::{FieldSchema, FieldType, ObjectSchema, PicklistValue};

/// A plugin answer that does not fit the host's types.
pub(crate) type Invalid = String;

pub(crate) fn value_to_wit(value: &Value) -> wit::Value {
    match value {
        Value::Null => wit::Value::Null,
        Value::Boolean(flag) => wit::Value::Boolean(*flag),
        Value::Number(number) => wit::Value::Number(*number),
        Value::Date(date) => wit::Value::Date(date.format("%Y-%m-%d").to_string()),
        Value::DateTime(at) => {
            wit::Value::Datetime(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        Value::Text(text) => wit::Value::Text(text.clone()),
        Value::Multi(items) => wit::Value::Multi(items.clone()),
    }
}

pub(crate) fn value_from_wit(value: wit::Value) -> Result<Value, Invalid> {
    let value = match value {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(flag) => Value::Boolean(flag),
        wit::Value::Number(number) => Value::Number(number),
        wit::Value::Date(text) => Value::Date(
            NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?,
        ),
        wit::Value::Datetime(text) => Value::DateTime(datetime_from_wit(&text)?),
        wit::Value::Text(text) => Value::Text(text),
        wit::Value::Multi(items) => Value::Multi(items),
    };
    Ok(value)
}

fn datetime_from_wit(text: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not an RFC 3339 datetime"))
}

fn fields_to_wit(fields: &Fields) -> Vec<wit::Field> {
    let to_wit = |(name, value): (&String, &Value)| wit::Field {
        name: name.clone(),
        value: value_to_wit(value),
    };
    fields.iter().map(to_wit).collect()
}

/// The plugin's field list as the host's map; a name sent twice keeps the
/// last value, as a JSON object would.
fn fields_from_wit(fields: Vec<wit::Field>) -> Result<Fields, Invalid> {
    let mut out = Fields::new();
    for field in fields {
        let value =
            value_from_wit(field.value).map_err(|e| format!("field `{}`: {e}", field.name))?;
        out.insert(field.name, value);
    }
    Ok(out)
}

fn operation_to_wit(operation: Operation) -> wit::Operation {
    match operation {
        Operation::Create => wit::Operation::Create,
        Operation::Update => wit::Operation::Update,
        Operation::Upsert => wit::Operation::Upsert,
    }
}

fn operation_from_wit(operation: wit::Operation) -> Operation {
    match operation {
        wit::Operation::Create => Operation::Create,
        wit::Operation::Update => Operation::Update,
        wit::Operation::Upsert => Operation::Upsert,
    }
}

pub(crate) fn agent_record_to_wit(record: &AgentRecord) -> wit::AgentRecord {
    wit::AgentRecord {
        entity: record.entity.clone(),
        operation: operation_to_wit(record.operation),
        key: record.key.clone(),
        acting_for: record.acting_for.clone(),
        fields: fields_to_wit(&record.fields),
    }
}

pub(crate) fn agent_record_from_wit(record: wit::AgentRecord) -> Result<AgentRecord, Invalid> {
    Ok(AgentRecord {
        entity: record.entity,
        operation: operation_from_wit(record.operation),
        key: record.key,
        acting_for: record.acting_for,
        fields: fields_from_wit(record.fields)?,
    })
}

fn match_key_to_wit(key: &MatchKey) -> wit::MatchKey {
    wit::MatchKey {
        field: key.field.clone(),
        value: value_to_wit(&key.value),
    }
}

fn match_key_from_wit(key: wit::MatchKey) -> Result<MatchKey, Invalid> {
    Ok(MatchKey {
        field: key.field,
        value: value_from_wit(key.value)?,
    })
}

fn target_to_wit(target: &Target) -> wit::Target {
    match target {
        Target::CrmId(id) => wit::Target::CrmId(id.clone()),
        Target::Reference(reference) => wit::Target::Reference(reference.clone()),
        Target::Lookup(key) => wit::Target::Lookup(match_key_to_wit(key)),
    }
}

fn target_from_wit(target: wit::Target) -> Result<Target, Invalid> {
    Ok(match target {
        wit::Target::CrmId(id) => Target::CrmId(id),
        wit::Target::Reference(reference) => Target::Reference(reference),
        wit::Target::Lookup(key) => Target::Lookup(match_key_from_wit(key)?),
    })
}

fn association_to_wit(association: &Association) -> wit::Association {
    wit::Association {
        object: association.object.clone(),
        target: target_to_wit(&association.target),
        via: association.via.clone(),
    }
}

fn association_from_wit(association: wit::Association) -> Result<Association, Invalid> {
    Ok(Association {
        object: association.object,
        target: target_from_wit(association.target)?,
        via: association.via,
    })
}

pub(crate) fn writes_to_wit(writes: &[CrmWrite]) -> Vec<wit::CrmWrite> {
    let to_wit = |write: &CrmWrite| wit::CrmWrite {
        object: write.object.clone(),
        reference_id: write.reference_id.clone(),
        match_key: write.match_key.as_ref().map(match_key_to_wit),
        fields: fields_to_wit(&write.fields),
        associations: write.associations.iter().map(association_to_wit).collect(),
    };
    writes.iter().map(to_wit).collect()
}

pub(crate) fn writes_from_wit(writes: Vec<wit::CrmWrite>) -> Result<Vec<CrmWrite>, Invalid> {
    let from_wit = |write: wit::CrmWrite| -> Result<CrmWrite, Invalid> {
        let associations = write.associations.into_iter().map(association_from_wit);
        Ok(CrmWrite {
            object: write.object,
            reference_id: write.reference_id,
            match_key: write.match_key.map(match_key_from_wit).transpose()?,
            fields: fields_from_wit(write.fields)?,
            associations: associations.collect::<Result<_, _>>()?,
        })
    };
    writes.into_iter().map(from_wit).collect()
}

fn activity_kind_to_wit(kind: ActivityKind) -> wit::ActivityKind {
    match kind {
        ActivityKind::Call => wit::ActivityKind::Call,
        ActivityKind::Email => wit::ActivityKind::Email,
        ActivityKind::Meeting => wit::ActivityKind::Meeting,
        ActivityKind::Task => wit::ActivityKind::Task,
        ActivityKind::Note => wit::ActivityKind::Note,
    }
}

pub(crate) fn activity_to_wit(activity: &Activity) -> wit::Activity {
    let related = |related: &RelatedRecord| wit::RelatedRecord {
        entity: related.entity.clone(),
        target: target_to_wit(&related.target),
    };
    wit::Activity {
        kind: activity_kind_to_wit(activity.kind),
        subtype: activity.subtype.clone(),
        subject: activity.subject.clone(),
        body: activity.body.clone(),
        occurred_at: activity
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        duration_seconds: activity.duration_seconds,
        direction: activity.direction.clone(),
        outcome: activity.outcome.clone(),
        acting_for: activity.acting_for.clone(),
        related: activity.related.iter().map(related).collect(),
        fields: fields_to_wit(&activity.fields),
    }
}

pub(crate) fn crm_record_to_wit(record: &CrmRecord) -> wit::CrmRecord {
    wit::CrmRecord {
        object: record.object.clone(),
        id: record.id.clone(),
        fields: fields_to_wit(&record.fields),
    }
}

pub(crate) fn plugin_error_from_wit(error: wit::PluginError) -> super::PluginError {
    super::PluginError {
        code: error.code,
        message: error.message,
        field: error.field,
    }
}

fn field_type_to_wit(kind: FieldType) -> wit::FieldType {
    match kind {
        FieldType::Text => wit::FieldType::Text,
        FieldType::Textarea => wit::FieldType::Textarea,
        FieldType::Email => wit::FieldType::Email,
        FieldType::Phone => wit::FieldType::Phone,
        FieldType::Url => wit::FieldType::Url,
        FieldType::Number => wit::FieldType::Number,
        FieldType::Currency => wit::FieldType::Currency,
        FieldType::Percent => wit::FieldType::Percent,
        FieldType::Boolean => wit::FieldType::Boolean,
        FieldType::Date => wit::FieldType::Date,
        FieldType::Datetime => wit::FieldType::Datetime,
        FieldType::Picklist => wit::FieldType::Picklist,
        FieldType::MultiPicklist => wit::FieldType::MultiPicklist,
        FieldType::Reference => wit::FieldType::Reference,
        FieldType::Id => wit::FieldType::Id,
        FieldType::Other => wit::FieldType::Other,
    }
}

fn picklist_value_to_wit(value: &PicklistValue) -> wit::PicklistValue {
    wit::PicklistValue {
        value: value.value.clone(),
        label: value.label.clone(),
        active: value.active,
    }
}

fn field_schema_to_wit(field: &FieldSchema) -> wit::FieldSchema {
    wit::FieldSchema {
        name: field.name.clone(),
        label: field.label.clone(),
        kind: field_type_to_wit(field.kind),
        createable: field.createable,
        updateable: field.updateable,
        required: field.required,
        picklist_values: field
            .picklist_values
            .iter()
            .map(picklist_value_to_wit)
            .collect(),
        restricted: field.restricted,
        reference_to: field.reference_to.clone(),
        length: field.length,
    }
}

/// The schema as a plugin sees it. `unique` is not in contract 0.1.0.
pub(crate) fn schema_to_wit(schema: &ObjectSchema) -> wit::ObjectSchema {
    wit::ObjectSchema {
        name: schema.name.clone(),
        fields: schema.fields.values().map(field_schema_to_wit).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_as_contract_text() {
        let date = NaiveDate::from_ymd_opt(2017, 3, 1).map(Value::Date);
        let date = date.expect("a valid date");
        let wire = value_to_wit(&date);
        assert_eq!(wire, wit::Value::Date("2017-03-01".into()));
        assert_eq!(value_from_wit(wire), Ok(date));
    }

    #[test]
    fn a_plugin_date_that_is_not_a_date_is_invalid() {
        let invalid = value_from_wit(wit::Value::Date("soon".into()));
        assert!(invalid.is_err_and(|e| e.contains("`soon`")));
    }
}
