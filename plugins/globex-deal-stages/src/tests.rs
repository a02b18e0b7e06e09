//! Native tests of the stage rules, against a fake host.

use conduit_plugin_sdk::testing::{FakeHost, picklist};
use conduit_plugin_sdk::{AgentRecord, FieldSchema, LogLevel, ObjectSchema, Plugin, Value};

use super::GlobexDealStages;

/// HubSpot's default pipeline, as Globex's org reports it.
const DEFAULT_PIPELINE: [&str; 7] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

fn deals_schema(stages: &[&str]) -> ObjectSchema {
    let dealstage = FieldSchema {
        label: "Deal Stage".into(),
        ..picklist("dealstage", stages)
    };
    ObjectSchema {
        name: "deals".into(),
        fields: vec![dealstage],
    }
}

fn globex() -> FakeHost {
    let premium = vec!["GTX Pro".to_string(), "MG Advanced".to_string()];
    FakeHost::new()
        .with_schema(deals_schema(&DEFAULT_PIPELINE))
        .with_setting("premium_products", premium)
        .with_setting("commit_threshold", 5000.0)
}

fn stage(host: &FakeHost, status: &str, record: &AgentRecord) -> Option<Value> {
    let plugin = GlobexDealStages;
    plugin
        .translate_status(host, "deals", "dealstage", status, record)
        .expect("a known stage")
}

fn text(stage: &str) -> Option<Value> {
    Some(Value::from(stage))
}

#[test]
fn won_and_lost_close_the_deal() {
    let deal = AgentRecord::new("deal").with_field("account", "Cancity");
    assert_eq!(stage(&globex(), "Won", &deal), text("closedwon"));
    assert_eq!(stage(&globex(), "Lost", &deal), text("closedlost"));
}

#[test]
fn prospecting_depends_on_the_account() {
    let without = AgentRecord::new("deal");
    let blank = AgentRecord::new("deal").with_field("account", "  ");
    let with = AgentRecord::new("deal").with_field("account", "Isdom");
    assert_eq!(
        stage(&globex(), "Prospecting", &without),
        text("appointmentscheduled")
    );
    assert_eq!(
        stage(&globex(), "Prospecting", &blank),
        text("appointmentscheduled")
    );
    assert_eq!(
        stage(&globex(), "Prospecting", &with),
        text("qualifiedtobuy")
    );
}

#[test]
fn engaging_premium_product_matches_ignoring_case_and_spaces() {
    let deal = AgentRecord::new("deal")
        .with_field("product", "GTXPro")
        .with_field("amount", 10.0);
    assert_eq!(
        stage(&globex(), "Engaging", &deal),
        text("decisionmakerboughtin")
    );

    let deal = AgentRecord::new("deal").with_field("product", "mg advanced");
    assert_eq!(
        stage(&globex(), "Engaging", &deal),
        text("decisionmakerboughtin")
    );
}

#[test]
fn engaging_amount_at_threshold_is_committed() {
    let at = AgentRecord::new("deal")
        .with_field("product", "GTX Basic")
        .with_field("amount", 5000.0);
    let under = AgentRecord::new("deal")
        .with_field("product", "GTX Basic")
        .with_field("amount", 4999.0);
    assert_eq!(
        stage(&globex(), "Engaging", &at),
        text("decisionmakerboughtin")
    );
    assert_eq!(
        stage(&globex(), "Engaging", &under),
        text("presentationscheduled")
    );
}

#[test]
fn engaging_without_settings_is_a_presentation() {
    let host = FakeHost::new().with_schema(deals_schema(&DEFAULT_PIPELINE));
    let deal = AgentRecord::new("deal")
        .with_field("product", "GTXPro")
        .with_field("amount", 1e9);
    assert_eq!(
        stage(&host, "Engaging", &deal),
        text("presentationscheduled")
    );
}

#[test]
fn other_fields_are_left_to_the_mapping() {
    let plugin = GlobexDealStages;
    let deal = AgentRecord::new("deal");
    let other = plugin.translate_status(&globex(), "contacts", "lifecyclestage", "Won", &deal);
    assert_eq!(other, Ok(None));
}

#[test]
fn an_unknown_status_is_an_unknown_stage_error() {
    let plugin = GlobexDealStages;
    let deal = AgentRecord::new("deal");
    let error = plugin
        .translate_status(&globex(), "deals", "dealstage", "Negotiating", &deal)
        .expect_err("not a globex stage");
    assert_eq!(error.code, "unknown_stage");
    assert_eq!(error.field.as_deref(), Some("dealstage"));
    assert!(error.message.contains("Negotiating"), "{}", error.message);
}

#[test]
fn a_stage_missing_from_the_pipeline_names_the_allowed_values() {
    let host = FakeHost::new().with_schema(deals_schema(&["closedwon", "closedlost"]));
    let deal = AgentRecord::new("deal");
    let error = GlobexDealStages
        .translate_status(&host, "deals", "dealstage", "Prospecting", &deal)
        .expect_err("appointmentscheduled is not in this pipeline");
    assert_eq!(error.code, "unknown_stage");
    assert!(
        error.message.contains("appointmentscheduled"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("closedwon, closedlost"),
        "{}",
        error.message
    );
}

#[test]
fn no_deals_schema_is_an_unknown_stage_error() {
    let error = GlobexDealStages
        .translate_status(
            &FakeHost::new(),
            "deals",
            "dealstage",
            "Won",
            &AgentRecord::new("deal"),
        )
        .expect_err("nothing to check against");
    assert_eq!(error.code, "unknown_stage");
}

#[test]
fn logs_the_rule_at_debug_without_field_values() {
    let host = globex();
    let deal = AgentRecord::new("deal").with_field("account", "Secret Account Name");
    stage(&host, "Prospecting", &deal);
    let logs = host.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, LogLevel::Debug);
    assert!(logs[0].1.contains("qualifiedtobuy"));
    assert!(!logs[0].1.contains("Secret"));
}
