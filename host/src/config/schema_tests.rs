//! Tests of the config checked against schema snapshots, driven by the
//! recorded Salesforce describes: labels where API names belong, custom
//! and namespaced names, picklist values, required and read-only fields.

use std::path::Path;

use super::{ConfigError, ConfigSet, SnapshotCheck, snapshot_path};
use crate::schema::{ObjectInfo, OrgSchema, salesforce_object};

const INTEGRATION: &str = "\
entities:
  deal:
    salesforce:
      object: Opportunity
      fields:
        name: Name
        stage:
          field: StageName
          values:
            Won: Closed Won
            Lost: Closed Lost
        close_date: CloseDate
        amount: Amount
  company:
    salesforce:
      object: Account
      fields:
        name: Name
  thing:
    salesforce:
      object: Custom__c
      fields:
        name: Name
";

fn recorded(object: &str) -> serde_json::Value {
    let path = format!(
        "{}/../crm-sim/data/salesforce/describe/{object}.describe.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("the recorded describe is in the repo");
    serde_json::from_str(&text).expect("the recorded describe is JSON")
}

/// A snapshot as `GET /v1/customers/acme/schema` answers it, built from the
/// recorded describes: Opportunity, Account with person accounts and its
/// managed packages' fields, a custom object, and the global describe.
fn snapshot() -> OrgSchema {
    let mut schema = OrgSchema::default();
    for (name, file) in [
        ("Opportunity", "Opportunity"),
        ("Account", "Account_PersonAccountsEnabled"),
        ("Custom__c", "Custom__c"),
    ] {
        let object = salesforce_object(&recorded(file)).expect("reads as a schema");
        schema.objects.insert(name.to_owned(), object);
    }
    let global = recorded("_global");
    let listed = global["sobjects"].as_array().expect("sobjects").iter();
    schema.catalog = listed
        .map(|o| ObjectInfo {
            name: o["name"].as_str().unwrap_or_default().to_owned(),
            label: o["label"].as_str().unwrap_or_default().to_owned(),
            label_plural: o["labelPlural"].as_str().unwrap_or_default().to_owned(),
            custom: false,
        })
        .collect();
    schema.catalog.push(ObjectInfo {
        name: "Custom__c".into(),
        label: "My Custom Object".into(),
        label_plural: "My Custom Objects".into(),
        custom: true,
    });
    schema
}

/// Loads `integration` with one customer `acme` and checks it against the
/// recorded snapshot; the problems found, as `conduit check` prints them.
fn problems(integration: &str, customer: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), integration, customer);
    let set = ConfigSet::load_dir(dir.path()).unwrap_or_else(|e| panic!("loads:\n{e}"));
    let config = set.customer("acme").expect("acme is loaded");
    match set.check_snapshot(dir.path(), &config) {
        SnapshotCheck::NoSnapshot => panic!("the snapshot was written"),
        SnapshotCheck::Checked { objects, problems } => {
            assert_eq!(objects, 3);
            problems.iter().map(ConfigError::to_string).collect()
        }
    }
}

fn write(dir: &Path, integration: &str, customer: &str) {
    std::fs::write(dir.join("integration.yaml"), integration).expect("write integration");
    std::fs::create_dir_all(dir.join("customers")).expect("create customers/");
    std::fs::write(dir.join("customers/acme.yaml"), customer).expect("write customer");
    let path = snapshot_path(dir, "acme");
    std::fs::create_dir_all(path.parent().expect("schemas/")).expect("create schemas/");
    let json = serde_json::to_string(&snapshot()).expect("serializes");
    std::fs::write(path, json).expect("write snapshot");
}

fn one(problems: &[String], wanted: &str) -> String {
    let found: Vec<&String> = problems.iter().filter(|p| p.contains(wanted)).collect();
    assert_eq!(
        found.len(),
        1,
        "one problem with `{wanted}` in {problems:#?}"
    );
    found[0].clone()
}

const ACME: &str = "customer: acme\ncrm: salesforce\n";

#[test]
fn a_config_that_fits_the_recorded_schema_has_no_problems() {
    assert_eq!(problems(INTEGRATION, ACME), Vec::<String>::new());
}

#[test]
fn a_field_label_gets_its_api_name_and_the_customers_line() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      amount: { field: Opportunity Amount }
      name: { field: name }
";
    let found = problems(INTEGRATION, customer);
    // `Amount`'s label is just "Amount"; `Opportunity Type` is `Type`'s.
    let label = one(&found, "`Opportunity Amount`");
    assert!(label.contains("has no field"), "{label}");
    let case = one(&found, "`name`");
    assert!(case.contains("did you mean `Name`?"), "{case}");
    assert!(
        case.contains("customers/acme.yaml:7: `entities.deal.fields.name.field`"),
        "{case}"
    );

    let typed = "customer: acme\ncrm: salesforce\nentities:\n  deal:\n    fields:\n      \
                 kind: { field: Opportunity Type }\n";
    let found = problems(INTEGRATION, typed);
    let label = one(&found, "`Opportunity Type`");
    assert!(
        label.contains("is the label of `Type`; use the API name"),
        "{label}"
    );

    // A label in the integration is the integration's, even where the
    // customer overrides another option of that field.
    let integration = INTEGRATION.replace(
        "        amount: Amount\n",
        "        amount: Amount\n        kind: Opportunity Type\n",
    );
    let overriding = "customer: acme\ncrm: salesforce\nentities:\n  deal:\n    fields:\n      \
                      kind: { update: skip }\n";
    let found = problems(&integration, overriding);
    let label = one(&found, "`Opportunity Type`");
    assert!(
        label.contains("integration.yaml:14: `entities.deal.salesforce.fields.kind.field`"),
        "{label}"
    );
}

#[test]
fn custom_and_namespaced_names_get_their_suffix_and_prefix() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  thing:
    fields:
      detail: { field: CustomField }
  company:
    fields:
      focus: { field: Funding_Focus__c }
";
    let found = problems(INTEGRATION, customer);
    let custom = one(&found, "`CustomField`");
    assert!(
        custom.contains("did you mean `CustomField__c`?"),
        "{custom}"
    );
    let namespaced = one(&found, "`Funding_Focus__c`");
    assert!(
        namespaced.contains("`npsp__Funding_Focus__c`"),
        "{namespaced}"
    );
}

#[test]
fn an_object_label_or_a_custom_object_without_its_suffix_fails_with_a_hint() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    object: Opportunities
  thing:
    object: Custom
";
    let found = problems(INTEGRATION, customer);
    let plural = one(&found, "`Opportunities`");
    assert!(plural.contains("is the label of `Opportunity`"), "{plural}");
    assert!(
        plural.contains("acme.yaml:5: `entities.deal.object`"),
        "{plural}"
    );
    let custom = one(&found, "`Custom`");
    assert!(custom.contains("did you mean `Custom__c`?"), "{custom}");
}

#[test]
fn picklist_values_are_checked_against_the_describe() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      stage:
        values:
          Engaging: Engaged
          Won: closed won
        fallback: Prospecting
";
    let found = problems(INTEGRATION, customer);
    let unknown = one(&found, "`Engaged`");
    assert!(
        unknown.contains("allowed: `Prospecting`, `Qualification`"),
        "{unknown}"
    );
    let label = one(&found, "`closed won`");
    assert!(label.contains("the label of `Closed Won`"), "{label}");
    assert!(!found.iter().any(|p| p.contains("fallback")), "{found:#?}");

    let bad_fallback = "customer: acme\ncrm: salesforce\nentities:\n  deal:\n    fields:\n      \
                        stage: { fallback: Maybe }\n";
    let found = problems(INTEGRATION, bad_fallback);
    let fallback = one(&found, "`Maybe`");
    assert!(
        fallback.contains("`entities.deal.fields.stage.fallback`"),
        "{fallback}"
    );
}

#[test]
fn required_read_only_and_create_only_fields_are_judged_by_the_describe() {
    // No close date: Opportunity.CloseDate is required on create.
    let integration = INTEGRATION.replace("        close_date: CloseDate\n", "");
    let found = problems(&integration, ACME);
    let required = one(&found, "CloseDate");
    assert!(required.contains("is required on create"), "{required}");
    assert!(
        required.contains("integration.yaml:3: `entities.deal.salesforce`"),
        "{required}"
    );

    // IsClosed is calculated; writing it is refused, skipping it is fine.
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      closed: { field: IsClosed }
      probability: { field: ExpectedRevenue, create: skip, update: skip }
";
    let found = problems(INTEGRATION, customer);
    let read_only = one(&found, "IsClosed");
    assert!(
        read_only.contains("read-only for the integration user"),
        "{read_only}"
    );
    assert!(
        !found.iter().any(|p| p.contains("ExpectedRevenue")),
        "{found:#?}"
    );
}

#[test]
fn options_that_cannot_apply_to_their_field_are_refused() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      close_date: { default: next friday }
      amount: { allow_regression: true, fallback: '0' }
      name: { clear: true, update: overwrite }
";
    let found = problems(INTEGRATION, customer);
    one(&found, "`next friday`");
    let regression = one(&found, "allow_regression");
    assert!(regression.contains("forward-only"), "{regression}");
    one(&found, "is not a picklist");
    let clear = one(&found, "cannot be cleared");
    assert!(clear.contains("`Opportunity.Name`"), "{clear}");
}

#[test]
fn a_missing_snapshot_is_said_and_a_broken_one_names_its_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), INTEGRATION, ACME);
    let set = ConfigSet::load_dir(dir.path()).expect("loads");
    let config = set.customer("acme").expect("loaded");

    std::fs::write(snapshot_path(dir.path(), "acme"), "{\n  \"objects\": [1,\n").expect("write");
    match set.check_snapshot(dir.path(), &config) {
        SnapshotCheck::Checked { problems, .. } => {
            let shown = problems[0].to_string();
            assert!(shown.contains("schemas/acme.json:2:"), "{shown}");
        }
        SnapshotCheck::NoSnapshot => panic!("the snapshot exists"),
    }

    std::fs::remove_file(snapshot_path(dir.path(), "acme")).expect("remove");
    assert!(matches!(
        set.check_snapshot(dir.path(), &config),
        SnapshotCheck::NoSnapshot
    ));
}

#[test]
fn a_crm_key_must_be_a_unique_field_the_create_may_set() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  company:
    crm_key: Name
  deal:
    crm_key: Conduit_Key
";
    let found = problems(INTEGRATION, customer);
    let not_unique = one(&found, "`Account.Name` is not unique");
    assert!(
        not_unique.contains("entities.company.crm_key"),
        "{not_unique}"
    );
    let missing = one(&found, "`Conduit_Key`");
    assert!(missing.contains("has no field"), "{missing}");
}

#[test]
fn a_ceiling_outside_the_allocation_is_refused_with_its_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let customer = "customer: acme\ncrm: salesforce\nlimits:\n  salesforce_daily_ceiling: 80\n";
    write(dir.path(), INTEGRATION, customer);
    let errors = ConfigSet::load_dir(dir.path()).expect_err("80 is not a share");
    let text = errors.to_string();
    assert!(text.contains("limits.salesforce_daily_ceiling"), "{text}");
    assert!(text.contains("at most 1"), "{text}");
}
