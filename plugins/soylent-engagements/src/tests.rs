//! Native tests of Soylent's engagement properties, against a fake host.

use conduit_plugin_sdk::testing::{FakeHost, activity, picklist};
use conduit_plugin_sdk::{
    ActivityKind, CrmWrite, FieldSchema, ObjectSchema, PicklistValue, Plugin, PluginError, Value,
};

use super::SoylentEngagements;

fn dispositions() -> FieldSchema {
    let option = |value: &str, label: &str| PicklistValue {
        value: value.to_owned(),
        label: label.to_owned(),
        active: true,
    };
    FieldSchema {
        picklist_values: vec![
            option("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
            option("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
        ],
        ..picklist("hs_call_disposition", &[])
    }
}

fn portal() -> FakeHost {
    let subtypes = picklist("activity_subtype", &["Discovery call", "Demo"]);
    FakeHost::new()
        .with_schema(ObjectSchema {
            name: "calls".into(),
            fields: vec![subtypes.clone(), dispositions()],
        })
        .with_schema(ObjectSchema {
            name: "meetings".into(),
            fields: vec![subtypes],
        })
}

fn map(
    kind: ActivityKind,
    object: &str,
    subtype: &str,
    outcome: Option<&str>,
) -> Result<CrmWrite, PluginError> {
    let mut logged = activity(kind, "2024-05-01T13:00:00Z");
    logged.subtype = Some(subtype.to_owned());
    logged.outcome = outcome.map(str::to_owned);
    let mut writes =
        SoylentEngagements.map_activity(&portal(), &logged, vec![CrmWrite::new(object)])?;
    Ok(writes.remove(0))
}

#[test]
fn a_call_gets_its_subtype_and_disposition_id() {
    let call = map(
        ActivityKind::Call,
        "calls",
        "discovery call",
        Some("left voicemail"),
    )
    .expect("known options");
    assert_eq!(
        call.field("activity_subtype"),
        Some(&Value::from("Discovery call"))
    );
    assert_eq!(
        call.field("hs_call_disposition"),
        Some(&Value::from("b2cf5968-551e-4856-9783-52b3da59a7d0"))
    );
}

#[test]
fn a_meeting_gets_its_subtype_and_keeps_its_outcome_to_the_mapping() {
    let meeting =
        map(ActivityKind::Meeting, "meetings", "demo", Some("completed")).expect("a meeting");
    assert_eq!(
        meeting.field("activity_subtype"),
        Some(&Value::from("Demo"))
    );
    assert_eq!(meeting.field("hs_call_disposition"), None);
}

#[test]
fn an_outcome_without_a_disposition_fails_the_call() {
    let error = map(ActivityKind::Call, "calls", "demo", Some("busy")).expect_err("no such option");
    assert_eq!(error.code, "unknown_option");
    assert!(error.message.contains("Connected"), "{}", error.message);
}
