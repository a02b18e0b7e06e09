//! The engagement objects (calls, emails, meetings, notes, tasks): their standard properties,
//! which HubSpot defines for every portal, in the v3 property shape.

use serde_json::{Value, json};

/// The engagement object types.
pub(crate) const ENGAGEMENTS: [&str; 5] = ["calls", "emails", "meetings", "notes", "tasks"];

/// Whether `object_type` is an engagement, whose creates need `hs_timestamp`.
pub(crate) fn is_engagement(object_type: &str) -> bool {
    ENGAGEMENTS.contains(&object_type)
}

/// A property of `kind` (`string`, `number`, `datetime`, `enumeration`) shown as `field_type`.
fn property(group: &str, name: &str, label: &str, kind: &str, field_type: &str) -> Value {
    json!({
        "name": name, "label": label, "type": kind, "fieldType": field_type, "description": "",
        "groupName": group, "options": [], "displayOrder": -1, "calculated": false,
        "externalOptions": false, "hasUniqueValue": false, "hidden": false, "formField": false,
        "modificationMetadata": {
            "archivable": false, "readOnlyDefinition": true, "readOnlyValue": false,
        },
    })
}

/// A select property with `values` as its options (labels are the values).
fn select(group: &str, name: &str, label: &str, values: &[&str]) -> Value {
    let mut prop = property(group, name, label, "enumeration", "select");
    let options: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"label": v, "value": v, "displayOrder": i, "hidden": false}))
        .collect();
    prop["options"] = Value::Array(options);
    prop
}

/// HubSpot's default call outcomes: options stored as ids under the labels people pick.
fn dispositions(group: &str) -> Value {
    let outcomes = [
        ("9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy"),
        ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
        ("a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "Left live message"),
        ("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
        ("73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
        ("17b47fee-58de-441e-a44c-c6300d46f273", "Wrong number"),
    ];
    let mut prop = property(
        group,
        "hs_call_disposition",
        "Call outcome",
        "enumeration",
        "select",
    );
    let options: Vec<Value> = outcomes
        .iter()
        .enumerate()
        .map(|(i, (value, label))| {
            json!({"label": label, "value": value, "displayOrder": i, "hidden": false})
        })
        .collect();
    prop["options"] = Value::Array(options);
    prop
}

/// A property only HubSpot writes.
fn read_only(group: &str, name: &str, label: &str, kind: &str) -> Value {
    let mut prop = property(group, name, label, kind, kind);
    prop["modificationMetadata"]["readOnlyValue"] = json!(true);
    prop
}

/// The properties HubSpot gives every object without a recording: engagements and custom
/// objects. `group` is their group name.
pub(crate) fn base_properties(group: &str) -> Vec<Value> {
    let g = group;
    vec![
        property(g, "hubspot_owner_id", "Owner", "enumeration", "select"),
        read_only(g, "hs_object_id", "Record ID", "number"),
        read_only(g, "hs_createdate", "Created at", "datetime"),
        read_only(g, "hs_lastmodifieddate", "Last modified date", "datetime"),
        read_only(g, "hs_created_by_user_id", "Created by user ID", "number"),
        read_only(g, "hs_updated_by_user_id", "Updated by user ID", "number"),
    ]
}

/// The standard properties of the engagement `object_type` (empty for other types).
pub(crate) fn properties(object_type: &str) -> Vec<Value> {
    if !is_engagement(object_type) {
        return Vec::new();
    }
    let g = "engagement";
    let text = |name: &str, label: &str| property(g, name, label, "string", "text");
    let html = |name: &str, label: &str| property(g, name, label, "string", "html");
    let time = |name: &str, label: &str| property(g, name, label, "datetime", "date");
    let mut props = vec![time("hs_timestamp", "Activity date")];
    props.extend(base_properties(g));
    props.extend(match object_type {
        "calls" => vec![
            text("hs_call_title", "Call title"),
            html("hs_call_body", "Call notes"),
            property(g, "hs_call_duration", "Call duration", "number", "number"),
            select(
                g,
                "hs_call_direction",
                "Call direction",
                &["INBOUND", "OUTBOUND"],
            ),
            dispositions(g),
            select(
                g,
                "hs_call_status",
                "Call status",
                &[
                    "BUSY",
                    "CALLING_CRM_USER",
                    "CANCELED",
                    "COMPLETED",
                    "CONNECTING",
                    "FAILED",
                    "IN_PROGRESS",
                    "NO_ANSWER",
                    "QUEUED",
                    "RINGING",
                ],
            ),
            text("hs_call_from_number", "From number"),
            text("hs_call_to_number", "To number"),
        ],
        "emails" => vec![
            text("hs_email_subject", "Email subject"),
            text("hs_email_text", "Email body"),
            html("hs_email_html", "Email HTML body"),
            select(
                g,
                "hs_email_direction",
                "Email direction",
                &["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"],
            ),
            select(
                g,
                "hs_email_status",
                "Email send status",
                &["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"],
            ),
            text("hs_email_headers", "Email headers"),
        ],
        "meetings" => vec![
            text("hs_meeting_title", "Meeting name"),
            html("hs_meeting_body", "Meeting description"),
            html("hs_internal_meeting_notes", "Internal meeting notes"),
            time("hs_meeting_start_time", "Meeting start time"),
            time("hs_meeting_end_time", "Meeting end time"),
            select(
                g,
                "hs_meeting_outcome",
                "Meeting outcome",
                &[
                    "SCHEDULED",
                    "COMPLETED",
                    "RESCHEDULED",
                    "NO_SHOW",
                    "CANCELED",
                ],
            ),
            text("hs_meeting_location", "Location"),
        ],
        "notes" => vec![html("hs_note_body", "Note body")],
        _ => vec![
            text("hs_task_subject", "Task title"),
            html("hs_task_body", "Notes"),
            select(
                g,
                "hs_task_status",
                "Task status",
                &[
                    "NOT_STARTED",
                    "IN_PROGRESS",
                    "WAITING",
                    "COMPLETED",
                    "DEFERRED",
                ],
            ),
            select(
                g,
                "hs_task_priority",
                "Priority",
                &["LOW", "MEDIUM", "HIGH"],
            ),
            // HubSpot's own option values: a to-do task is stored as this word.
            select(g, "hs_task_type", "Task type", &["CALL", "EMAIL", "TODO"]),
        ],
    });
    props
}
