//! Reading a Salesforce describe (`GET /sobjects/{Object}/describe`).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Deserialize;

use super::{FieldSchema, FieldType, ObjectSchema, PicklistValue};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Describe {
    name: String,
    fields: Vec<DescribeField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeField {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    createable: bool,
    updateable: bool,
    nillable: bool,
    #[serde(default)]
    defaulted_on_create: bool,
    #[serde(default)]
    picklist_values: Vec<DescribePicklistValue>,
    #[serde(default)]
    restricted_picklist: bool,
    #[serde(default)]
    reference_to: Vec<String>,
    #[serde(default)]
    length: u32,
    #[serde(default)]
    external_id: bool,
    #[serde(default)]
    unique: bool,
}

#[derive(Deserialize)]
struct DescribePicklistValue {
    value: String,
    label: Option<String>,
    active: bool,
}

/// Builds the host's schema of one object from its describe body.
pub fn salesforce_object(describe: &serde_json::Value) -> anyhow::Result<ObjectSchema> {
    let describe = Describe::deserialize(describe).context("reading a Salesforce describe")?;
    let fields = describe
        .fields
        .into_iter()
        .map(|f| {
            let kind = field_type(&f.kind);
            let required =
                f.createable && !f.nillable && !f.defaulted_on_create && kind != FieldType::Boolean;
            let schema = FieldSchema {
                label: f.label,
                kind,
                createable: f.createable,
                updateable: f.updateable,
                required,
                picklist_values: f
                    .picklist_values
                    .into_iter()
                    .map(|p| PicklistValue {
                        label: p.label.unwrap_or_else(|| p.value.clone()),
                        value: p.value,
                        active: p.active,
                    })
                    .collect(),
                restricted: f.restricted_picklist,
                reference_to: f.reference_to,
                length: (f.length > 0).then_some(f.length),
                unique: f.external_id || f.unique,
                integer: matches!(f.kind.as_str(), "int" | "long"),
                forward_only: false,
                name: f.name.clone(),
            };
            (f.name, schema)
        })
        .collect::<BTreeMap<_, _>>();
    Ok(ObjectSchema {
        name: describe.name,
        fields,
    })
}

fn field_type(kind: &str) -> FieldType {
    match kind {
        "string" | "encryptedstring" => FieldType::Text,
        "textarea" => FieldType::Textarea,
        "email" => FieldType::Email,
        "phone" => FieldType::Phone,
        "url" => FieldType::Url,
        "int" | "double" | "long" => FieldType::Number,
        "currency" => FieldType::Currency,
        "percent" => FieldType::Percent,
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "datetime" => FieldType::Datetime,
        "picklist" => FieldType::Picklist,
        // A combobox suggests values but takes any text.
        "combobox" => FieldType::Text,
        "multipicklist" => FieldType::MultiPicklist,
        "reference" => FieldType::Reference,
        "id" => FieldType::Id,
        _ => FieldType::Other,
    }
}
