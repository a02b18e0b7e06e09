//! Native tests of Vandelay's activity record, against a fake host.

use conduit_plugin_sdk::testing::{FakeHost, activity, picklist};
use conduit_plugin_sdk::{
    ActivityKind, CrmWrite, FieldSchema, FieldType, ObjectSchema, Plugin, PluginError, Value,
};

use super::VandelaySalesActivities;

fn org() -> FakeHost {
    let name = FieldSchema {
        length: Some(20),
        ..picklist("Name", &[])
    };
    let name = FieldSchema {
        kind: FieldType::Text,
        restricted: false,
        ..name
    };
    FakeHost::new().with_schema(ObjectSchema {
        name: "Sales_Activity__c".into(),
        fields: vec![
            picklist("Kind__c", &["Call", "Email", "Meeting", "Task", "Note"]),
            picklist("Subtype__c", &["Discovery Call", "Demo"]),
            name,
        ],
    })
}

fn map(kind: ActivityKind, subject: &str, subtype: Option<&str>) -> Result<CrmWrite, PluginError> {
    let mut logged = activity(kind, "2024-05-01T13:00:00Z");
    logged.subject = Some(subject.to_owned());
    logged.subtype = subtype.map(str::to_owned);
    let draft = vec![CrmWrite::new("Sales_Activity__c")];
    let mut writes = VandelaySalesActivities.map_activity(&org(), &logged, draft)?;
    Ok(writes.remove(0))
}

#[test]
fn kind_subtype_and_name_come_from_the_activity() {
    let write = map(ActivityKind::Meeting, "Demo", Some("demo")).expect("known values");
    assert_eq!(write.field("Kind__c"), Some(&Value::from("Meeting")));
    assert_eq!(write.field("Subtype__c"), Some(&Value::from("Demo")));
    assert_eq!(write.field("Name"), Some(&Value::from("Meeting: Demo")));
}

#[test]
fn the_name_is_cut_to_the_orgs_length() {
    let write = map(ActivityKind::Call, "Intro with Ada Lovelace", None).expect("a call");
    assert_eq!(
        write.field("Name"),
        Some(&Value::from("Call: Intro with Ada"))
    );
    assert_eq!(write.field("Subtype__c"), None);
}

#[test]
fn a_subtype_the_org_lacks_fails_the_activity() {
    let error = map(ActivityKind::Call, "Intro", Some("Pricing")).expect_err("unknown");
    assert_eq!(error.code, "unknown_activity_value");
    assert_eq!(error.field.as_deref(), Some("Subtype__c"));
}
