//! Native tests of the subtype mapping, against a fake host.

use conduit_plugin_sdk::testing::{FakeHost, activity, picklist};
use conduit_plugin_sdk::{ActivityKind, CrmWrite, ObjectSchema, Plugin, Value};

use super::AcmeTaskActivities;

fn org(subtypes: &[&str]) -> FakeHost {
    FakeHost::new().with_schema(ObjectSchema {
        name: "Task".into(),
        fields: vec![picklist("Activity_Subtype__c", subtypes)],
    })
}

fn map(host: &FakeHost, subtype: Option<&str>) -> Result<Vec<CrmWrite>, String> {
    let mut call = activity(ActivityKind::Call, "2024-05-01T13:00:00Z");
    call.subtype = subtype.map(str::to_owned);
    let mut draft = CrmWrite::new("Task");
    draft.set_field("Subject", "Intro");
    AcmeTaskActivities
        .map_activity(host, &call, vec![draft])
        .map_err(|e| format!("{}: {}", e.code, e.message))
}

#[test]
fn the_agents_words_find_the_picklist_value() {
    let host = org(&["Discovery Call", "Demo", "Negotiation"]);
    for said in ["discovery call", "Discovery-Call", "discovery_call"] {
        let writes = map(&host, Some(said)).expect("a known subtype");
        assert_eq!(
            writes[0].field("Activity_Subtype__c"),
            Some(&Value::from("Discovery Call")),
            "{said}"
        );
        assert_eq!(writes[0].field("Subject"), Some(&Value::from("Intro")));
    }
}

#[test]
fn an_unknown_subtype_fails_naming_what_the_org_has() {
    let host = org(&["Discovery Call", "Demo"]);
    let error = map(&host, Some("Pricing Review")).expect_err("not in the picklist");
    assert!(error.starts_with("unknown_subtype: "), "{error}");
    assert!(error.contains("Discovery Call, Demo"), "{error}");
}

#[test]
fn a_value_the_org_adds_is_used_once_discovered() {
    assert!(map(&org(&["Demo"]), Some("Pricing Review")).is_err());
    let rediscovered = org(&["Demo", "Pricing Review"]);
    let writes = map(&rediscovered, Some("pricing review")).expect("now in the picklist");
    assert_eq!(
        writes[0].field("Activity_Subtype__c"),
        Some(&Value::from("Pricing Review"))
    );
}

#[test]
fn without_a_subtype_the_draft_stays_as_it_was() {
    let writes = map(&org(&["Demo"]), None).expect("nothing to map");
    assert_eq!(writes[0].field("Activity_Subtype__c"), None);
}

#[test]
fn the_setting_names_another_picklist() {
    let host = FakeHost::new()
        .with_schema(ObjectSchema {
            name: "Task".into(),
            fields: vec![picklist("Call_Type__c", &["Demo"])],
        })
        .with_setting("subtype_field", "Call_Type__c");
    let writes = map(&host, Some("demo")).expect("the named field");
    assert_eq!(writes[0].field("Call_Type__c"), Some(&Value::from("Demo")));
}
