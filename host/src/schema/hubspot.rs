//! Reading HubSpot properties (`GET /crm/v3/properties/{objectType}`) and
//! deal pipelines.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Deserialize;

use super::{FieldSchema, FieldType, ObjectSchema, PicklistValue};

#[derive(Deserialize)]
struct Properties {
    results: Vec<Property>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Property {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    field_type: String,
    #[serde(default)]
    options: Vec<PropertyOption>,
    #[serde(default)]
    calculated: bool,
    #[serde(default)]
    has_unique_value: bool,
    modification_metadata: Option<ModificationMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertyOption {
    label: String,
    value: String,
    #[serde(default)]
    hidden: bool,
    /// The order people see; a forward-only property moves along it.
    display_order: Option<i64>,
}

/// The longest value a HubSpot string property takes.
const MAX_TEXT: u32 = 65_536;

/// Options in the order HubSpot shows them; those without an order keep
/// their place after the rest.
fn by_display_order(mut options: Vec<PropertyOption>) -> Vec<PropertyOption> {
    options.sort_by_key(|o| o.display_order.unwrap_or(i64::MAX));
    options
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModificationMetadata {
    #[serde(default)]
    read_only_value: bool,
}

#[derive(Deserialize)]
struct Pipelines {
    results: Vec<Pipeline>,
}

#[derive(Deserialize)]
struct Pipeline {
    id: String,
    label: String,
    stages: Vec<Stage>,
}

#[derive(Deserialize)]
struct Stage {
    id: String,
    label: String,
}

/// Builds the host's schema of one object type from its properties body.
pub fn hubspot_object(
    object: &str,
    properties: &serde_json::Value,
) -> anyhow::Result<ObjectSchema> {
    let properties = Properties::deserialize(properties)
        .with_context(|| format!("reading HubSpot properties of `{object}`"))?;
    let fields = properties
        .results
        .into_iter()
        .map(|p| {
            let read_only = p.calculated
                || p.modification_metadata
                    .as_ref()
                    .is_some_and(|m| m.read_only_value);
            let kind = field_type(&p.name, &p.kind, &p.field_type);
            let schema = FieldSchema {
                label: p.label,
                kind,
                createable: !read_only,
                updateable: !read_only,
                required: false,
                picklist_values: by_display_order(p.options)
                    .into_iter()
                    .map(|o| PicklistValue {
                        value: o.value,
                        label: o.label,
                        active: !o.hidden,
                    })
                    .collect(),
                // HubSpot refuses any enumeration value outside its options.
                restricted: matches!(kind, FieldType::Picklist | FieldType::MultiPicklist),
                reference_to: if kind == FieldType::Reference {
                    vec!["owners".to_owned()]
                } else {
                    Vec::new()
                },
                // HubSpot refuses string values over 65,536 characters, for
                // the whole batch they came in: checked here, per record.
                length: matches!(
                    kind,
                    FieldType::Text
                        | FieldType::Textarea
                        | FieldType::Email
                        | FieldType::Phone
                        | FieldType::Url
                )
                .then_some(MAX_TEXT),
                unique: p.has_unique_value,
                // HubSpot numbers are decimals of any scale.
                integer: false,
                // HubSpot ignores a move back of the lifecycle stage.
                forward_only: p.name == "lifecyclestage",
                name: p.name.clone(),
            };
            (p.name, schema)
        })
        .collect::<BTreeMap<_, _>>();
    Ok(ObjectSchema {
        name: object.to_owned(),
        fields,
    })
}

/// Sets the `pipeline` and `dealstage` options of a deals schema from the
/// pipelines API: stages are internal ids, and the properties body may list
/// only some of them.
pub fn hubspot_pipelines_options(
    deals: &mut ObjectSchema,
    pipelines: &serde_json::Value,
) -> anyhow::Result<()> {
    let pipelines = Pipelines::deserialize(pipelines).context("reading HubSpot deal pipelines")?;
    if let Some(field) = deals.fields.get_mut("pipeline") {
        field.picklist_values = pipelines
            .results
            .iter()
            .map(|p| PicklistValue {
                value: p.id.clone(),
                label: p.label.clone(),
                active: true,
            })
            .collect();
        field.restricted = true;
    }
    if let Some(field) = deals.fields.get_mut("dealstage") {
        let mut seen = std::collections::BTreeSet::new();
        field.picklist_values = pipelines
            .results
            .iter()
            .flat_map(|p| p.stages.iter())
            .filter(|s| seen.insert(s.id.clone()))
            .map(|s| PicklistValue {
                value: s.id.clone(),
                label: s.label.clone(),
                active: true,
            })
            .collect();
        field.restricted = true;
    }
    Ok(())
}

fn field_type(name: &str, kind: &str, field_type: &str) -> FieldType {
    if name == "hubspot_owner_id" {
        return FieldType::Reference;
    }
    match (kind, field_type) {
        ("string", "textarea") => FieldType::Textarea,
        ("string", "phonenumber") | ("phone_number", _) => FieldType::Phone,
        ("string", _) => FieldType::Text,
        ("number", _) => FieldType::Number,
        ("date", _) => FieldType::Date,
        ("datetime", _) => FieldType::Datetime,
        ("bool", _) | ("enumeration", "booleancheckbox") => FieldType::Boolean,
        ("enumeration", "checkbox") => FieldType::MultiPicklist,
        ("enumeration", _) => FieldType::Picklist,
        _ => FieldType::Other,
    }
}
