//! Properties and pipelines: the v1 recordings converted to CRM v3 shapes, plus the profile's
//! custom properties.

use serde_json::{Value, json};

use super::engagements;
use super::profile::CustomProperty;

/// Embedded v1 property recordings, by v3 object type.
const PROPERTIES: [(&str, &str); 3] = [
    (
        "companies",
        include_str!("../../data/hubspot/companies_properties_v1_all.json"),
    ),
    (
        "contacts",
        include_str!("../../data/hubspot/contacts_properties_v1_key_subset.json"),
    ),
    (
        "deals",
        include_str!("../../data/hubspot/deals_properties_v1_all.json"),
    ),
];

/// Embedded v1 deal pipelines recording.
const PIPELINES: &str = include_str!("../../data/hubspot/deal_pipelines_v1_all.json");

/// One property definition, in the v3 shape, with what validation needs.
#[derive(Debug, Clone)]
pub(crate) struct Property {
    /// Internal name.
    pub name: String,
    /// `string`, `number`, `date`, `datetime`, `enumeration`, `bool`.
    pub kind: String,
    /// `text`, `select`, `radio`, `checkbox`, `booleancheckbox`, ...
    pub field_type: String,
    /// Allowed values of enumerations.
    pub options: Vec<String>,
    /// Whether the API may not write it.
    pub read_only: bool,
    /// Whether values must be unique.
    pub unique: bool,
    /// The v3 JSON served by the properties endpoint.
    pub v3: Value,
}

fn recording(text: &str) -> anyhow::Result<Vec<Value>> {
    let value: Value = serde_json::from_str(text)?;
    Ok(value
        .get("response")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// The v3 pipelines, converted from the v1 recording.
pub(crate) fn pipelines() -> anyhow::Result<Vec<Value>> {
    Ok(recording(PIPELINES)?
        .iter()
        .map(|p| {
            let stages: Vec<Value> = p
                .get("stages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(stage_to_v3)
                .collect();
            json!({
                "id": p.get("pipelineId"), "label": p.get("label"),
                "displayOrder": p.get("displayOrder"), "stages": stages, "archived": false,
            })
        })
        .collect())
}

/// Converts one v1 pipeline stage to the v3 shape; closed means probability 0 or 1, or won.
fn stage_to_v3(s: &Value) -> Value {
    let probability = s.get("probability").and_then(Value::as_f64).unwrap_or(0.0);
    let closed = probability == 0.0
        || probability == 1.0
        || s.get("closedWon").and_then(Value::as_bool).unwrap_or(false);
    json!({
        "id": s.get("stageId"), "label": s.get("label"), "displayOrder": s.get("displayOrder"),
        "metadata": {"probability": probability.to_string(), "isClosed": closed.to_string()},
        "archived": false,
    })
}

/// Converts one v1 property object to the v3 shape.
fn to_v3(v1: &Value) -> Value {
    let flag = |key: &str| v1.get(key).and_then(Value::as_bool).unwrap_or(false);
    let options: Vec<Value> = v1
        .get("options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            json!({
                "label": o.get("label"), "value": o.get("value"),
                "displayOrder": o.get("displayOrder").cloned().unwrap_or(json!(i)),
                "hidden": o.get("hidden").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    json!({
        "name": v1.get("name"), "label": v1.get("label"), "type": v1.get("type"),
        "fieldType": v1.get("fieldType"),
        "description": v1.get("description").cloned().unwrap_or(json!("")),
        "groupName": v1.get("groupName"), "options": options,
        "displayOrder": v1.get("displayOrder").cloned().unwrap_or(json!(-1)),
        "calculated": flag("calculated"), "externalOptions": flag("externalOptions"),
        "hasUniqueValue": flag("hasUniqueValue"), "hidden": flag("hidden"),
        "formField": flag("formField"),
        "modificationMetadata": {
            "archivable": !flag("hubspotDefined"), "readOnlyDefinition": flag("readOnlyDefinition"),
            "readOnlyValue": flag("readOnlyValue"),
        },
    })
}

/// A profile's custom property in the v3 shape.
fn custom_v3(object_type: &str, c: &CustomProperty) -> Value {
    let kind = c.kind.clone().unwrap_or_else(|| "string".to_owned());
    let field_type = c.field_type.clone().unwrap_or_else(|| {
        match kind.as_str() {
            "number" => "number",
            "date" | "datetime" => "date",
            "enumeration" => "select",
            "bool" => "booleancheckbox",
            _ => "text",
        }
        .to_owned()
    });
    let options: Vec<Value> = c
        .options
        .iter()
        .enumerate()
        .map(|(i, v)| option(&json!(v), &json!(v), &json!(i)))
        .collect();
    json!({
        "name": c.name, "label": c.label, "type": kind, "fieldType": field_type,
        "description": "",
        "groupName": format!("{}information", object_type.trim_end_matches('s')),
        "options": options, "displayOrder": -1, "calculated": false, "externalOptions": false,
        "hasUniqueValue": c.unique.unwrap_or(c.kind.is_none()), "hidden": false,
        "formField": false,
        "modificationMetadata": {
            "archivable": true, "readOnlyDefinition": false, "readOnlyValue": false,
        },
    })
}

/// One v3 enumeration option, as the deal stage and pipeline properties list them.
fn option(label: &Value, value: &Value, order: &Value) -> Value {
    json!({"label": label, "value": value, "displayOrder": order, "hidden": false})
}

fn from_v3(v3: Value) -> Option<Property> {
    let text = |key: &str| {
        v3.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let options = v3
        .get("options")
        .and_then(Value::as_array)
        .map(|o| {
            o.iter()
                .filter_map(|o| o.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let read_only = v3
        .pointer("/modificationMetadata/readOnlyValue")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || v3
            .get("calculated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    Some(Property {
        name: v3.get("name")?.as_str()?.to_owned(),
        kind: text("type"),
        field_type: text("fieldType"),
        options,
        read_only,
        unique: v3
            .get("hasUniqueValue")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        v3,
    })
}

/// The properties of `object_type`: the recording (or the engagement's standard
/// properties), with pipeline options filled in, plus the profile's `custom` ones.
pub(crate) fn load(
    object_type: &str,
    custom: &[&CustomProperty],
    pipelines: &[Value],
) -> anyhow::Result<Vec<Property>> {
    let mut props: Vec<Value> = match PROPERTIES.iter().find(|(t, _)| *t == object_type) {
        Some((_, text)) => recording(text)?.iter().map(to_v3).collect(),
        None if engagements::is_engagement(object_type) => engagements::properties(object_type),
        None => engagements::base_properties(&format!("{object_type}_information")),
    };
    for prop in &mut props {
        let name = prop
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if object_type == "deals" && name == "dealstage" {
            prop["options"] = json!(
                pipelines
                    .iter()
                    .flat_map(|p| p
                        .get("stages")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default())
                    .map(|s| option(&s["label"], &s["id"], &s["displayOrder"]))
                    .collect::<Vec<_>>()
            );
        } else if object_type == "deals" && name == "pipeline" {
            prop["options"] = json!(
                pipelines
                    .iter()
                    .map(|p| option(&p["label"], &p["id"], &p["displayOrder"]))
                    .collect::<Vec<_>>()
            );
        }
        if [
            "hs_object_id",
            "createdate",
            "hs_lastmodifieddate",
            "hs_createdate",
        ]
        .contains(&name.as_str())
        {
            prop["modificationMetadata"]["readOnlyValue"] = json!(true);
        }
    }
    for c in custom {
        props.push(custom_v3(object_type, c));
    }
    if !props.iter().any(|p| p["name"] == "hs_object_id") {
        props.push(json!({
            "name": "hs_object_id", "label": "Record ID", "type": "number", "fieldType": "number",
            "description": "",
            "groupName": format!("{}information", object_type.trim_end_matches('s')),
            "options": [], "displayOrder": -1, "calculated": false, "externalOptions": false,
            "hasUniqueValue": true, "hidden": false, "formField": false,
            "modificationMetadata": {
                "archivable": false, "readOnlyDefinition": true, "readOnlyValue": true,
            },
        }));
    }
    Ok(props.into_iter().filter_map(from_v3).collect())
}
