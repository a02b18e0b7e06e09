//! The `Task` object, derived from the embedded `Event` describe: the activity fields both
//! share, without the calendar ones, plus the fields only tasks have (status, priority,
//! subtype and the call fields).

use serde_json::{Map, Value, json};

use super::custom::urls;
use super::describe::{field_describe, picklist_entries, set_keys};

/// Event fields a Task has too, in describe order.
const SHARED: [&str; 16] = [
    "Id",
    "WhoId",
    "WhatId",
    "Subject",
    "ActivityDate",
    "Description",
    "AccountId",
    "OwnerId",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsArchived",
    "ReminderDateTime",
];

/// The `Task` describe: `event` reshaped, its `WhatId` pointing at Account, Opportunity and
/// every object in `custom_objects`.
pub(crate) fn describe(event: &Value, custom_objects: &[String]) -> Value {
    let mut task = event.clone();
    let shared = event
        .get("fields")
        .and_then(Value::as_array)
        .map(|fields| {
            let wanted = |f: &&Value| {
                let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                SHARED.contains(&name)
            };
            fields.iter().filter(wanted).cloned().collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut what_to = vec!["Account".to_owned(), "Opportunity".to_owned()];
    what_to.extend(custom_objects.iter().cloned());
    let mut fields: Vec<Value> = shared
        .into_iter()
        .map(|mut f| {
            match f.get("name").and_then(Value::as_str) {
                Some("WhatId") => f["referenceTo"] = json!(what_to),
                Some("OwnerId") => f["referenceTo"] = json!(["Group", "User"]),
                Some("Subject") => {
                    let values = ["Call", "Send Letter", "Send Quote", "Other"];
                    f["picklistValues"] = picklist_entries(&values, None);
                }
                Some("ActivityDate") => f["label"] = json!("Due Date Only"),
                _ => {}
            }
            f
        })
        .collect();
    fields.extend(task_fields());
    for (key, value) in [
        ("name", json!("Task")),
        ("label", json!("Task")),
        ("labelPlural", json!("Tasks")),
        ("keyPrefix", json!("00T")),
        ("urls", urls("Task")),
        ("fields", Value::Array(fields)),
        ("childRelationships", json!([])),
        ("recordTypeInfos", json!([])),
    ] {
        task[key] = value;
    }
    task
}

/// A picklist field; `default` makes it defaulted on create and never null.
fn picklist(name: &str, label: &str, values: &[&str], default: Option<&str>) -> Map<String, Value> {
    let mut field = field_describe(name, label, "picklist", false);
    field.insert("length".into(), json!(40));
    field.insert("byteLength".into(), json!(120));
    field.insert("picklistValues".into(), picklist_entries(values, default));
    if let Some(default) = default {
        field.insert("defaultedOnCreate".into(), json!(true));
        field.insert("nillable".into(), json!(false));
        field.insert("defaultValue".into(), json!(default));
    }
    field
}

/// A field of `kind`, with `length` for text.
fn plain(name: &str, label: &str, kind: &str, length: u64) -> Map<String, Value> {
    let mut field = field_describe(name, label, kind, false);
    field.insert("length".into(), json!(length));
    field.insert("byteLength".into(), json!(length * 3));
    if kind == "int" {
        field.insert("digits".into(), json!(9));
    }
    field
}

/// A boolean Salesforce derives from other fields.
fn derived(name: &str, label: &str) -> Map<String, Value> {
    let mut field = field_describe(name, label, "boolean", false);
    set_keys(
        &mut field,
        [
            ("createable", json!(false)),
            ("updateable", json!(false)),
            ("nillable", json!(false)),
            ("defaultedOnCreate", json!(true)),
            ("defaultValue", json!(false)),
        ],
    );
    field
}

/// The fields a Task has and an Event does not.
fn task_fields() -> Vec<Value> {
    let status = [
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    ];
    let subtypes = ["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"];
    let mut subtype = picklist("TaskSubtype", "Task Subtype", &subtypes, None);
    subtype.insert("updateable".into(), json!(false));
    subtype.insert("restrictedPicklist".into(), json!(true));
    let call_types = ["Internal", "Inbound", "Outbound"];
    let mut call_type = picklist("CallType", "Call Type", &call_types, None);
    call_type.insert("restrictedPicklist".into(), json!(true));
    let types = ["Call", "Email", "Meeting", "Other"];
    let priorities = ["High", "Normal", "Low"];
    [
        picklist("Status", "Status", &status, Some("Not Started")),
        picklist("Priority", "Priority", &priorities, Some("Normal")),
        derived("IsHighPriority", "High Priority"),
        derived("IsClosed", "Closed"),
        picklist("Type", "Type", &types, None),
        subtype,
        plain("CallDurationInSeconds", "Call Duration", "int", 0),
        call_type,
        plain("CallDisposition", "Call Result", "string", 255),
        plain("CallObject", "Call Object Identifier", "string", 255),
    ]
    .into_iter()
    .map(Value::Object)
    .collect()
}

/// `IsClosed` and `IsHighPriority` as Salesforce derives them from `Status` and `Priority`.
pub(crate) fn derived_values(record: &Map<String, Value>) -> [(&'static str, bool); 2] {
    let is = |field: &str, value: &str| record.get(field).and_then(Value::as_str) == Some(value);
    [
        ("IsClosed", is("Status", "Completed")),
        ("IsHighPriority", is("Priority", "High")),
    ]
}
