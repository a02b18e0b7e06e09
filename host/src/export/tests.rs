//! Tests of the export planner: one table row per reason, then properties
//! that must hold for any schema, current record, desired values and policy.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Decision, DesiredField, Plan, PlanInput, Policy, PolicyRule, Reason, Source, plan};
use crate::config::PolicyPair;
use crate::record::{Fields, Value};
use crate::schema::{
    FieldSchema, FieldType, ObjectSchema, coerce, hubspot_object, salesforce_object,
};

const OVERWRITE: PolicyRule = PolicyRule {
    create: Policy::Overwrite,
    update: Policy::Overwrite,
};
const FILL: PolicyRule = PolicyRule {
    create: Policy::Overwrite,
    update: Policy::FillIfEmpty,
};
const SKIP: PolicyRule = PolicyRule {
    create: Policy::Skip,
    update: Policy::Skip,
};

fn describe(object: &str) -> ObjectSchema {
    let path = format!(
        "{}/../crm-sim/data/salesforce/describe/{object}.describe.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the recorded describe is in the repo");
    let json = serde_json::from_str(&text).expect("the recorded describe is JSON");
    salesforce_object(&json).expect("the recorded describe reads as a schema")
}

fn field(name: &str, kind: FieldType, createable: bool, updateable: bool) -> FieldSchema {
    FieldSchema {
        createable,
        updateable,
        ..FieldSchema::new(name, kind)
    }
}

/// A small object with one field of each interesting shape.
fn synthetic() -> ObjectSchema {
    let fields = [
        field("Text", FieldType::Text, true, true),
        field("Amount", FieldType::Currency, true, true),
        field("Tags", FieldType::MultiPicklist, true, true),
        field("CreateOnly", FieldType::Text, true, false),
        field("UpdateOnly", FieldType::Text, false, true),
    ];
    ObjectSchema {
        name: "Thing".into(),
        fields: fields.into_iter().map(|f| (f.name.clone(), f)).collect(),
    }
}

fn desired(field: &str, value: Value, policy: PolicyRule) -> DesiredField {
    DesiredField::new(field, value, policy, Source::Agent)
}

fn clearing(field: &str, value: Value, policy: PolicyRule) -> DesiredField {
    DesiredField {
        clear: true,
        ..desired(field, value, policy)
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn multi(items: &[&str]) -> Value {
    Value::Multi(items.iter().map(|s| (*s).to_owned()).collect())
}

/// Plans one field and returns the reason the planner gave.
fn reason_for(schema: &ObjectSchema, current: Option<&Fields>, wanted: DesiredField) -> Reason {
    let desired = [wanted];
    let plan = plan(PlanInput {
        schema,
        current,
        desired: &desired,
    });
    assert_eq!(plan.fields.len(), 1, "one decision per desired field");
    let decision = &plan.fields[0];
    assert_eq!(decision.decision, decision.reason.decision());
    decision.reason
}

fn current_with(field: &str, value: Value) -> Fields {
    Fields::from([(field.to_owned(), value)])
}

#[test]
fn every_reason_from_a_table() {
    let schema = synthetic();
    let empty = Fields::new();
    let cases: Vec<(&str, Option<Fields>, DesiredField, Reason)> = vec![
        (
            "create writes",
            None,
            desired("Text", text("a"), FILL),
            Reason::Create,
        ),
        (
            "overwrite over a different value",
            Some(current_with("Text", text("old"))),
            desired("Text", text("new"), OVERWRITE),
            Reason::Overwrite,
        ),
        (
            "overwrite over null",
            Some(current_with("Text", Value::Null)),
            desired("Text", text("new"), OVERWRITE),
            Reason::FilledEmpty,
        ),
        (
            "overwrite over the same text",
            Some(current_with("Text", text("same"))),
            desired("Text", text("same"), OVERWRITE),
            Reason::Unchanged,
        ),
        (
            "overwrite over a number within rounding",
            Some(current_with("Amount", Value::Number(0.1 + 0.2))),
            desired("Amount", Value::Number(0.3), OVERWRITE),
            Reason::Unchanged,
        ),
        (
            "overwrite over a number one cent off",
            Some(current_with("Amount", Value::Number(100.0))),
            desired("Amount", Value::Number(100.01), OVERWRITE),
            Reason::Overwrite,
        ),
        (
            "overwrite over a multi-select in another order",
            Some(current_with("Tags", multi(&["b", "a"]))),
            desired("Tags", multi(&["a", "b"]), OVERWRITE),
            Reason::Unchanged,
        ),
        (
            "overwrite over a multi-select with other items",
            Some(current_with("Tags", multi(&["a"]))),
            desired("Tags", multi(&["a", "b"]), OVERWRITE),
            Reason::Overwrite,
        ),
        (
            "fill_if_empty over a value",
            Some(current_with("Text", text("typed by a person"))),
            desired("Text", text("agent"), FILL),
            Reason::HasValue,
        ),
        (
            "fill_if_empty over null",
            Some(current_with("Text", Value::Null)),
            desired("Text", text("agent"), FILL),
            Reason::FilledEmpty,
        ),
        (
            "fill_if_empty over blank text",
            Some(current_with("Text", text("  "))),
            desired("Text", text("agent"), FILL),
            Reason::FilledEmpty,
        ),
        (
            "fill_if_empty over an empty multi-select",
            Some(current_with("Tags", multi(&[]))),
            desired("Tags", multi(&["a"]), FILL),
            Reason::FilledEmpty,
        ),
        (
            "fill_if_empty over an absent field",
            Some(empty.clone()),
            desired("Text", text("agent"), FILL),
            Reason::FilledEmpty,
        ),
        (
            "skip on create",
            None,
            desired("Text", text("a"), SKIP),
            Reason::PolicySkip,
        ),
        (
            "skip on update",
            Some(empty.clone()),
            desired("Text", text("a"), SKIP),
            Reason::PolicySkip,
        ),
        (
            "not createable on create",
            None,
            desired("UpdateOnly", text("a"), OVERWRITE),
            Reason::ReadOnly,
        ),
        (
            "not updateable on update",
            Some(empty.clone()),
            desired("CreateOnly", text("a"), OVERWRITE),
            Reason::ReadOnly,
        ),
        (
            "null never clears",
            None,
            desired("Text", Value::Null, OVERWRITE),
            Reason::EmptyValue,
        ),
        (
            "blank text never clears",
            Some(current_with("Text", text("keep"))),
            desired("Text", text(" "), OVERWRITE),
            Reason::EmptyValue,
        ),
        (
            "an empty multi-select never clears",
            Some(current_with("Tags", multi(&["keep"]))),
            desired("Tags", multi(&[]), OVERWRITE),
            Reason::EmptyValue,
        ),
        (
            "absent from the schema",
            None,
            desired("Nope__c", text("a"), OVERWRITE),
            Reason::NotInSchema,
        ),
        (
            "an explicit clear where the mapping allows it",
            Some(current_with("Text", text("old"))),
            clearing("Text", Value::Null, OVERWRITE),
            Reason::Cleared,
        ),
        (
            "an explicit clear of blank text, allowed",
            Some(current_with("Text", text("old"))),
            clearing("Text", text(""), OVERWRITE),
            Reason::Cleared,
        ),
        (
            "an allowed clear of an empty field changes nothing",
            Some(current_with("Text", Value::Null)),
            clearing("Text", Value::Null, OVERWRITE),
            Reason::Unchanged,
        ),
        (
            "an allowed clear under fill_if_empty keeps the value",
            Some(current_with("Text", text("typed by a person"))),
            clearing("Text", Value::Null, FILL),
            Reason::HasValue,
        ),
        (
            "an allowed clear on create sends nothing",
            None,
            clearing("Text", Value::Null, OVERWRITE),
            Reason::EmptyValue,
        ),
    ];

    for (name, current, wanted, expected) in cases {
        let got = reason_for(&schema, current.as_ref(), wanted);
        assert_eq!(got, expected, "case: {name}");
    }
}

#[test]
fn read_only_fields_from_the_recorded_describes() {
    let opportunity = describe("Opportunity");
    let event = describe("Event");
    let nothing = Fields::new();

    let is_closed = desired("IsClosed", Value::Boolean(true), OVERWRITE);
    assert_eq!(
        reason_for(&opportunity, None, is_closed.clone()),
        Reason::ReadOnly
    );
    assert_eq!(
        reason_for(&opportunity, Some(&nothing), is_closed),
        Reason::ReadOnly
    );

    // EventSubtype may be set on create but never changed afterwards.
    let subtype = desired("EventSubtype", text("Event"), OVERWRITE);
    assert_eq!(reason_for(&event, None, subtype.clone()), Reason::Create);
    assert_eq!(
        reason_for(&event, Some(&nothing), subtype),
        Reason::ReadOnly
    );

    let name = desired("Name", text("Big deal"), OVERWRITE);
    assert_eq!(
        reason_for(&opportunity, Some(&nothing), name),
        Reason::FilledEmpty
    );
}

/// The recorded companies properties, where `lifecyclestage` only moves
/// forward: subscriber, lead, …, customer, evangelist, other.
fn hubspot_companies() -> ObjectSchema {
    let path = format!(
        "{}/../crm-sim/data/hubspot/companies_properties_v1_all.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the recorded properties are in the repo");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the recording is JSON");
    let properties = serde_json::json!({ "results": json["response"] });
    hubspot_object("companies", &properties).expect("the recording reads as a schema")
}

#[test]
fn restricted_picklists_and_required_fields_from_the_recorded_describes() {
    let opportunity = describe("Opportunity");
    let forecast = opportunity.field("ForecastCategoryName").expect("recorded");
    assert!(forecast.restricted);
    assert_eq!(coerce(forecast, text("commit")), Ok(text("Commit")));
    let refused = coerce(forecast, text("Maybe")).expect_err("not a forecast category");
    assert_eq!(refused.code, "invalid_picklist_value");
    assert!(
        refused
            .message
            .contains("Omitted, Pipeline, Best Case, Commit, Closed")
    );

    let required: Vec<&str> = opportunity
        .fields
        .values()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, ["CloseDate", "Name", "StageName"]);
    // A boolean is never required: Salesforce defaults it to false.
    let account = describe("Account_PersonAccountsEnabled");
    assert!(
        account
            .fields
            .values()
            .all(|f| !(f.required && f.kind == FieldType::Boolean))
    );
}

#[test]
fn lifecycle_stage_moves_back_only_where_the_config_allows() {
    let companies = hubspot_companies();
    let stage = companies.field("lifecyclestage").expect("recorded");
    assert!(stage.forward_only);
    let customer = current_with("lifecyclestage", text("customer"));

    let back = desired("lifecyclestage", text("lead"), OVERWRITE);
    assert_eq!(
        reason_for(&companies, Some(&customer), back.clone()),
        Reason::Regression
    );
    let allowed = DesiredField {
        allow_regression: true,
        ..back
    };
    let plan = planned(&companies, Some(&customer), &[allowed]);
    assert_eq!(plan.fields[0].reason, Reason::RegressionAllowed);
    assert_eq!(
        plan.regressions().get("lifecyclestage"),
        Some(&text("lead"))
    );

    let forward = desired("lifecyclestage", text("evangelist"), OVERWRITE);
    assert_eq!(
        reason_for(&companies, Some(&customer), forward),
        Reason::Overwrite
    );
    // Any other enumeration moves freely.
    let industry = current_with("industry", text("RETAIL"));
    let other = desired("industry", text("ACCOUNTING"), OVERWRITE);
    assert_eq!(
        reason_for(&companies, Some(&industry), other),
        Reason::Overwrite
    );
}

#[test]
fn a_person_account_never_gets_a_name_from_the_recorded_describe() {
    let accounts = describe("Account_PersonAccountsEnabled");
    let person = [
        desired("Name", text("Ada Lovelace"), OVERWRITE),
        desired("FirstName", text("Ada"), OVERWRITE),
        desired("LastName", text("Lovelace"), OVERWRITE),
    ];
    let plan = planned(&accounts, None, &person);
    let name = plan
        .fields
        .iter()
        .find(|d| d.field == "Name")
        .expect("planned");
    assert_eq!(name.reason, Reason::PersonAccountName);
    assert!(!plan.payload().contains_key("Name"));
    assert!(plan.payload().contains_key("LastName"));

    // A business account in the same org keeps its name; so does any
    // account in an org without person accounts.
    let business = [desired("Name", text("Acme"), OVERWRITE)];
    assert_eq!(
        planned(&accounts, None, &business).fields[0].reason,
        Reason::Create
    );
    let plain = describe("Account");
    let plan = planned(&plain, None, &person);
    let name = plan
        .fields
        .iter()
        .find(|d| d.field == "Name")
        .expect("planned");
    assert_eq!(name.reason, Reason::Create);
}

#[test]
fn payload_holds_exactly_the_written_fields() {
    let schema = describe("Opportunity");
    let current = Fields::from([
        ("Name".to_owned(), text("Typed by RevOps")),
        ("StageName".to_owned(), text("Prospecting")),
        ("Amount".to_owned(), Value::Number(1000.0)),
    ]);
    let wanted = [
        desired("StageName", text("Closed Won"), OVERWRITE),
        desired("Name", text("Agent's name"), FILL),
        desired("Amount", Value::Number(1000.0), OVERWRITE),
        desired("Description", text("Met at the fair"), FILL),
        desired("IsClosed", Value::Boolean(true), OVERWRITE),
        desired("Nope__c", text("x"), OVERWRITE),
    ];

    let plan = plan(PlanInput {
        schema: &schema,
        current: Some(&current),
        desired: &wanted,
    });

    let expected = Fields::from([
        ("Description".to_owned(), text("Met at the fair")),
        ("StageName".to_owned(), text("Closed Won")),
    ]);
    assert_eq!(plan.payload(), expected);
    assert!(!plan.is_noop());

    let names: Vec<&str> = plan.fields.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        names,
        [
            "Amount",
            "Description",
            "IsClosed",
            "Name",
            "Nope__c",
            "StageName"
        ]
    );
    let name = plan
        .fields
        .iter()
        .find(|d| d.field == "Name")
        .expect("Name is planned");
    assert_eq!(name.current, Some(text("Typed by RevOps")));
    assert_eq!(name.policy, Policy::FillIfEmpty);
}

#[test]
fn is_noop_only_for_updates_that_write_nothing() {
    let schema = synthetic();
    let current = current_with("Text", text("same"));
    let same = [desired("Text", text("same"), OVERWRITE)];
    let skipped = [desired("Text", text("x"), SKIP)];

    let update = plan(PlanInput {
        schema: &schema,
        current: Some(&current),
        desired: &same,
    });
    assert!(update.is_noop());
    assert!(update.payload().is_empty());

    // A create with nothing to write still creates the record.
    let create = plan(PlanInput {
        schema: &schema,
        current: None,
        desired: &skipped,
    });
    assert!(create.payload().is_empty());
    assert!(!create.is_noop());

    let change = [desired("Text", text("other"), OVERWRITE)];
    let update = plan(PlanInput {
        schema: &schema,
        current: Some(&current),
        desired: &change,
    });
    assert!(!update.is_noop());
}

#[test]
fn policy_rule_with_overrides_only_what_the_layer_sets() {
    let base = PolicyRule {
        create: Policy::Overwrite,
        update: Policy::FillIfEmpty,
    };

    assert_eq!(base.with(PolicyPair::default()), base);

    let update_only = PolicyPair {
        create: None,
        update: Some(Policy::Skip),
    };
    assert_eq!(
        base.with(update_only),
        PolicyRule {
            create: Policy::Overwrite,
            update: Policy::Skip
        }
    );

    let both = PolicyPair {
        create: Some(Policy::Skip),
        update: Some(Policy::Overwrite),
    };
    let layered = base.with(update_only).with(both);
    assert_eq!(
        layered,
        PolicyRule {
            create: Policy::Skip,
            update: Policy::Overwrite
        }
    );

    assert_eq!(layered.for_write(true), Policy::Skip);
    assert_eq!(layered.for_write(false), Policy::Overwrite);
}

// Properties. Field names come from a small pool so that generated schemas,
// current records and desired values overlap often.

const NAMES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

fn any_value() -> impl Strategy<Value = Value> {
    let item = prop::sample::select(vec!["x", "y", "z"]).prop_map(str::to_owned);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        (-1.0e6..1.0e6f64).prop_map(Value::Number),
        prop::sample::select(vec!["", " ", "a", "b", "A"]).prop_map(text),
        prop::collection::vec(item, 0..3).prop_map(Value::Multi),
    ]
}

fn any_policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Overwrite),
        Just(Policy::FillIfEmpty),
        Just(Policy::Skip)
    ]
}

fn any_schema() -> impl Strategy<Value = ObjectSchema> {
    prop::collection::btree_map(
        prop::sample::select(NAMES.to_vec()),
        any::<(bool, bool)>(),
        0..6,
    )
    .prop_map(|fields| ObjectSchema {
        name: "Generated".into(),
        fields: fields
            .into_iter()
            .map(|(name, (c, u))| (name.to_owned(), field(name, FieldType::Text, c, u)))
            .collect(),
    })
}

fn any_fields() -> impl Strategy<Value = Fields> {
    prop::collection::btree_map(prop::sample::select(NAMES.to_vec()), any_value(), 0..6)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Desired values, one per field name (the mapper never sends a field twice).
fn any_desired() -> impl Strategy<Value = Vec<DesiredField>> {
    let rule =
        (any_policy(), any_policy()).prop_map(|(create, update)| PolicyRule { create, update });
    prop::collection::btree_map(
        prop::sample::select(NAMES.to_vec()),
        (any_value(), rule, any::<bool>()),
        0..6,
    )
    .prop_map(|m: BTreeMap<&str, (Value, PolicyRule, bool)>| {
        m.into_iter()
            .map(|(name, (value, policy, clear))| DesiredField {
                clear,
                ..desired(name, value, policy)
            })
            .collect()
    })
}

fn planned(schema: &ObjectSchema, current: Option<&Fields>, wanted: &[DesiredField]) -> Plan {
    plan(PlanInput {
        schema,
        current,
        desired: wanted,
    })
}

proptest! {
    #[test]
    fn fill_if_empty_never_changes_a_non_empty_field(
        schema in any_schema(), current in any_fields(), wanted in any_desired()
    ) {
        let payload = planned(&schema, Some(&current), &wanted).payload();

        for d in wanted.iter().filter(|d| d.policy.update == Policy::FillIfEmpty) {
            if current.get(&d.field).is_some_and(|v| !v.is_empty()) {
                prop_assert!(!payload.contains_key(&d.field), "{} was overwritten", d.field);
            }
        }
    }

    #[test]
    fn a_skip_field_never_appears_in_the_payload(
        schema in any_schema(), current in prop::option::of(any_fields()), wanted in any_desired()
    ) {
        let creating = current.is_none();
        let payload = planned(&schema, current.as_ref(), &wanted).payload();

        for d in wanted.iter().filter(|d| d.policy.for_write(creating) == Policy::Skip) {
            prop_assert!(!payload.contains_key(&d.field), "{} was written", d.field);
        }
    }

    #[test]
    fn a_field_not_writable_never_appears_in_the_payload(
        schema in any_schema(), current in prop::option::of(any_fields()), wanted in any_desired()
    ) {
        let creating = current.is_none();
        let payload = planned(&schema, current.as_ref(), &wanted).payload();

        for (name, f) in &schema.fields {
            if !f.writable(creating) {
                prop_assert!(!payload.contains_key(name), "{} is read-only", name);
            }
        }
    }

    #[test]
    fn applying_a_plan_then_planning_again_is_a_noop(
        schema in any_schema(), current in any_fields(), wanted in any_desired()
    ) {
        let first = planned(&schema, Some(&current), &wanted);

        let mut after = current.clone();
        after.extend(first.payload());
        let second = planned(&schema, Some(&after), &wanted);

        prop_assert!(second.is_noop(), "second plan still writes {:?}", second.payload());
    }

    #[test]
    fn an_empty_value_clears_only_where_the_mapping_allows_it(
        schema in any_schema(), current in prop::option::of(any_fields()), wanted in any_desired()
    ) {
        let plan = planned(&schema, current.as_ref(), &wanted);
        let payload = plan.payload();

        for d in wanted.iter().filter(|d| d.value.is_empty()) {
            if !d.clear || plan.creating {
                prop_assert!(!payload.contains_key(&d.field), "{} was cleared", d.field);
            } else if let Some(sent) = payload.get(&d.field) {
                prop_assert_eq!(sent, &Value::Null, "a clear goes out as null");
            }
        }
    }

    #[test]
    fn no_field_outside_the_schema_is_ever_written(
        schema in any_schema(), current in prop::option::of(any_fields()), wanted in any_desired()
    ) {
        let plan = planned(&schema, current.as_ref(), &wanted);

        for name in plan.payload().keys() {
            prop_assert!(schema.fields.contains_key(name), "{} is not in the schema", name);
        }
        for d in plan.fields.iter().filter(|d| d.decision == Decision::Write) {
            prop_assert!(schema.field(&d.field).is_some());
        }
    }
}
