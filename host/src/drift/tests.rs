//! What each change to a CRM's schema is reported as, and how the stored
//! report keeps and clears findings.

use chrono::{Duration, Utc};

use super::finding;
use crate::config::{CustomerConfig, check_schema, from_yaml};
use crate::schema::{FieldSchema, FieldType, ObjectSchema, OrgSchema, PicklistValue};
use crate::secrets::SecretKey;
use crate::store::{DriftFinding, Store};

const INTEGRATION: &str = "\
entities:
  deal:
    salesforce:
      object: Opportunity
      match: External_Id__c
      fields:
        name: Name
        stage:
          field: StageName
          values:
            Won: Closed Won
            Lost: Closed Lost
        amount: Amount
  company:
    salesforce:
      object: Account
      fields:
        name: Name
";

fn config() -> CustomerConfig {
    from_yaml(INTEGRATION, "customer: acme\ncrm: salesforce\n")
}

fn stage(values: &[&str]) -> FieldSchema {
    let picklist_values = values
        .iter()
        .map(|v| PicklistValue {
            value: (*v).to_owned(),
            label: (*v).to_owned(),
            active: true,
        })
        .collect();
    FieldSchema {
        picklist_values,
        restricted: true,
        ..FieldSchema::new("StageName", FieldType::Picklist)
    }
}

fn object(name: &str, fields: Vec<FieldSchema>) -> ObjectSchema {
    ObjectSchema {
        name: name.to_owned(),
        fields: fields.into_iter().map(|f| (f.name.clone(), f)).collect(),
    }
}

/// The org as the config was written for.
fn fitting() -> OrgSchema {
    let external = FieldSchema {
        unique: true,
        ..FieldSchema::new("External_Id__c", FieldType::Text)
    };
    let deal = object(
        "Opportunity",
        vec![
            FieldSchema::new("Name", FieldType::Text),
            external,
            stage(&["Closed Won", "Closed Lost"]),
            FieldSchema::new("Amount", FieldType::Currency),
        ],
    );
    let company = object("Account", vec![FieldSchema::new("Name", FieldType::Text)]);
    let mut schema = OrgSchema::default();
    schema.objects.insert("Opportunity".into(), deal);
    schema.objects.insert("Account".into(), company);
    schema
}

/// `(entity, CRM field, option, kind)` of every finding against `schema`.
fn kinds(schema: &OrgSchema) -> Vec<(String, Option<String>, Option<String>, String)> {
    let config = config();
    check_schema(&config, schema)
        .iter()
        .map(|p| finding(&config, schema, p))
        .map(|f| (f.entity, f.field, f.option, f.kind))
        .collect()
}

fn kind(
    entity: &str,
    field: Option<&str>,
    option: &str,
    kind: &str,
) -> Vec<(String, Option<String>, Option<String>, String)> {
    vec![(
        entity.to_owned(),
        field.map(str::to_owned),
        Some(option.to_owned()),
        kind.to_owned(),
    )]
}

fn opportunity(schema: &mut OrgSchema) -> &mut ObjectSchema {
    schema
        .objects
        .get_mut("Opportunity")
        .expect("the deal's object")
}

#[test]
fn a_fitting_org_has_no_findings() {
    assert_eq!(kinds(&fitting()), vec![]);
}

#[test]
fn a_deleted_field_is_missing() {
    let mut schema = fitting();
    opportunity(&mut schema).fields.remove("Amount");
    assert_eq!(
        kinds(&schema),
        kind("deal", Some("Amount"), "field", "field_missing")
    );
}

#[test]
fn a_field_locked_by_field_level_security_is_read_only() {
    let mut schema = fitting();
    let amount = opportunity(&mut schema)
        .fields
        .get_mut("Amount")
        .expect("Amount");
    amount.createable = false;
    amount.updateable = false;
    assert_eq!(
        kinds(&schema),
        kind("deal", Some("Amount"), "field", "field_read_only")
    );
}

#[test]
fn a_removed_picklist_value_the_mapping_targets_is_reported() {
    let mut schema = fitting();
    opportunity(&mut schema)
        .fields
        .insert("StageName".into(), stage(&["Closed Won"]));
    let found = kinds(&schema);
    assert_eq!(
        found,
        kind(
            "deal",
            Some("StageName"),
            "values.lost",
            "picklist_value_missing"
        )
    );
}

#[test]
fn a_deleted_match_field_is_missing() {
    let mut schema = fitting();
    opportunity(&mut schema).fields.remove("External_Id__c");
    assert_eq!(
        kinds(&schema),
        kind("deal", Some("External_Id__c"), "match", "field_missing")
    );
}

#[test]
fn an_object_gone_names_no_field() {
    let mut schema = fitting();
    schema.objects.remove("Account");
    assert_eq!(
        kinds(&schema),
        kind("company", None, "object", "object_missing")
    );
}

fn amount_missing() -> DriftFinding {
    DriftFinding {
        entity: "deal".into(),
        object: "Opportunity".into(),
        field: Some("Amount".into()),
        agent_field: Some("amount".into()),
        option: Some("field".into()),
        kind: "field_missing".into(),
        message: "`Opportunity` has no field `Amount`".into(),
    }
}

#[tokio::test]
async fn a_finding_keeps_its_first_sighting_until_a_check_no_longer_finds_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = SecretKey::from_hex(&"17".repeat(32)).expect("a key");
    let store = Store::open_sqlite(&dir.path().join("conduit.db"), key)
        .await
        .expect("the store");
    let first = Utc::now();
    let found = [amount_missing()];

    let (report, new) = store
        .record_drift("acme", &found, first)
        .await
        .expect("recorded");
    assert_eq!(new, found);
    let since = report.findings[0].since.clone();

    let later = first + Duration::minutes(5);
    let (report, new) = store
        .record_drift("acme", &found, later)
        .await
        .expect("recorded");
    assert!(new.is_empty(), "seen before");
    assert_eq!(report.findings[0].since, since);
    assert_ne!(report.findings[0].checked_at, since);
    assert_eq!(store.drift("globex").await.expect("read").findings, vec![]);

    let fixed = later + Duration::minutes(5);
    let (report, _) = store
        .record_drift("acme", &[], fixed)
        .await
        .expect("recorded");
    assert_eq!(report.findings, vec![]);
    assert_eq!(report.checked_at, Some(crate::store::timestamp(fixed)));
}
