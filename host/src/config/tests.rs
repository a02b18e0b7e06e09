//! Tests of config loading: the shipped examples, error reporting, and how a
//! customer's overrides merge over the integration's defaults.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{ConfigError, ConfigSet, CustomerConfig, FieldMapping, Provider};
use crate::export::{Policy, PolicyRule};
use crate::record::Value;

const INTEGRATION: &str = "\
export:
  update: fill_if_empty
entities:
  company:
    salesforce:
      object: Account
      fields:
        name: Name
        sector:
          field: Industry
          values: { software: Technology, retail: Retail }
  deal:
    salesforce:
      object: Opportunity
      fields:
        name: { field: Name }
        amount: Amount
        account: { field: AccountId, reference: company }
";

/// A config dir with `integration.yaml` and the given customer files.
fn config_dir(integration: &str, customers: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("integration.yaml"), integration).expect("write integration");
    std::fs::create_dir(dir.path().join("customers")).expect("create customers/");
    for (name, text) in customers {
        std::fs::write(dir.path().join("customers").join(name), text).expect("write customer");
    }
    dir
}

fn load_one(integration: &str, customer: &str) -> CustomerConfig {
    let dir = config_dir(integration, &[("acme.yaml", customer)]);
    let set = ConfigSet::load_dir(dir.path()).unwrap_or_else(|e| panic!("loads:\n{e}"));
    set.customer("acme")
        .expect("customer acme is loaded")
        .as_ref()
        .clone()
}

fn load_errors(integration: &str, customers: &[(&str, &str)]) -> (TempDir, Vec<ConfigError>) {
    let dir = config_dir(integration, customers);
    let errors = ConfigSet::load_dir(dir.path())
        .expect_err("the config is refused")
        .0;
    (dir, errors)
}

fn customer_path(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join("customers").join(name)
}

fn mapping<'a>(config: &'a CustomerConfig, entity: &str, field: &str) -> &'a FieldMapping {
    let entity = config.entities.get(entity).expect("entity is mapped");
    entity.fields.get(field).expect("field is mapped")
}

fn invalid_keys(errors: &[ConfigError]) -> Vec<(&Path, &str)> {
    errors
        .iter()
        .filter_map(|e| match e {
            ConfigError::Invalid { path, key, .. } => Some((path.as_path(), key.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_examples_load() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"));
    let set = ConfigSet::load_dir(dir).unwrap_or_else(|e| panic!("examples load:\n{e}"));

    let northwind = set.customer("northwind").expect("northwind is configured");
    let globex = set.customer("globex").expect("globex is configured");
    assert_eq!(northwind.provider, Provider::Salesforce);
    assert_eq!(globex.provider, Provider::Hubspot);
    assert_eq!(set.customers().count(), 5);

    // Activities: the integration's Task mapping, Acme's meetings moved to
    // Task, Vandelay's custom object mapped by Vandelay alone.
    assert_eq!(northwind.entities["activity.call"].object, "Task");
    assert_eq!(northwind.entities["activity.meeting"].object, "Event");
    let acme = set.customer("acme").expect("acme is configured");
    let acme_meeting = &acme.entities["activity.meeting"];
    assert_eq!(acme_meeting.object, "Task");
    assert_eq!(
        acme_meeting.fields["type"].default,
        Some(Value::Text("Meeting".into()))
    );
    assert!(!acme_meeting.fields.contains_key("started_at"));
    let vandelay = set.customer("vandelay").expect("vandelay is configured");
    let sales_activity = &vandelay.entities["activity.email"];
    assert_eq!(sales_activity.object, "Sales_Activity__c");
    assert_eq!(
        sales_activity.match_field.as_deref(),
        Some("Conduit_Key__c")
    );
    assert_eq!(
        sales_activity.owner.as_ref().map(|o| o.field.as_str()),
        Some("OwnerId")
    );
    assert!(
        !sales_activity.fields.contains_key("subject"),
        "Task's Subject is not carried over"
    );
    assert_eq!(
        sales_activity.fields["body"].crm_field.as_deref(),
        Some("Notes__c")
    );

    assert_eq!(northwind.entities["deal"].object, "Opportunity");
    assert_eq!(
        mapping(&northwind, "deal", "name").policy.update,
        Policy::Skip
    );
    assert_eq!(
        mapping(&northwind, "deal", "close_date").default,
        Some(Value::Text("2017-12-31".into()))
    );
    assert_eq!(globex.entities["company"].object, "companies");
    assert_eq!(
        mapping(&globex, "company", "office_location").policy.update,
        Policy::Skip
    );

    let plugin = globex.plugin.as_ref().expect("globex runs a plugin");
    assert_eq!(
        plugin.settings.get("commit_threshold"),
        Some(&Value::Number(3000.0))
    );
}

#[test]
fn an_unknown_key_names_the_file_line_and_key() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      amount: { updat: overwrite }
";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);

    let [
        ConfigError::Syntax {
            path,
            line,
            message,
            ..
        },
    ] = errors.as_slice()
    else {
        panic!("expected one syntax error, got {errors:?}");
    };
    assert_eq!(path, &customer_path(&dir, "acme.yaml"));
    assert_eq!(*line, 6, "{message}");
    assert!(message.contains("updat"), "{message}");
}

#[test]
fn a_wrong_type_names_the_file_line_and_key() {
    let integration =
        INTEGRATION.replace("amount: Amount", "amount: { field: Amount, plugin: maybe }");
    let dir = config_dir(
        &integration,
        &[("acme.yaml", "customer: acme\ncrm: salesforce\n")],
    );
    let errors = ConfigSet::load_dir(dir.path())
        .expect_err("plugin must be a boolean")
        .0;

    let [
        ConfigError::Syntax {
            path,
            line,
            message,
            ..
        },
    ] = errors.as_slice()
    else {
        panic!("expected one syntax error, got {errors:?}");
    };
    assert_eq!(path, &dir.path().join("integration.yaml"));
    assert_eq!(*line, 17, "{message}");
    assert!(
        message.contains("plugin") || message.contains("bool"),
        "{message}"
    );
}

#[test]
fn shorthand_and_map_forms_both_map_a_field() {
    let config = load_one(INTEGRATION, "customer: acme\ncrm: salesforce\n");

    let short = mapping(&config, "deal", "amount");
    let long = mapping(&config, "deal", "name");
    assert_eq!(short.crm_field.as_deref(), Some("Amount"));
    assert_eq!(long.crm_field.as_deref(), Some("Name"));
    assert_eq!(short.policy, long.policy);
    assert_eq!(short.reference, None);
    assert_eq!(
        mapping(&config, "deal", "account").reference.as_deref(),
        Some("company")
    );
}

/// Update and create policies per layer, lowest first: integration, entity,
/// field, customer, customer entity, customer field. Each differs from the
/// layer below, so a layer that is ignored shows.
const UPDATES: [&str; 6] = [
    "skip",
    "overwrite",
    "fill_if_empty",
    "skip",
    "overwrite",
    "fill_if_empty",
];
const CREATES: [&str; 6] = [
    "fill_if_empty",
    "skip",
    "overwrite",
    "fill_if_empty",
    "skip",
    "overwrite",
];

/// The integration and customer files with the first `layers` layers set.
fn layered(layers: usize) -> (String, String) {
    let pair = |i: usize| {
        if i < layers {
            format!("create: {}, update: {}", CREATES[i], UPDATES[i])
        } else {
            String::new()
        }
    };
    let sep = |i: usize| if i < layers { ", " } else { "" };
    let integration = format!(
        "export: {{ {} }}\nentities:\n  deal:\n    export: {{ {} }}\n    salesforce:\n      \
         object: Opportunity\n      fields:\n        amount: {{ field: Amount{}{} }}\n",
        pair(0),
        pair(1),
        sep(2),
        pair(2),
    );
    let customer = format!(
        "customer: acme\ncrm: salesforce\nexport: {{ {} }}\nentities:\n  deal:\n    \
         export: {{ {} }}\n    fields:\n      amount: {{ {} }}\n",
        pair(3),
        pair(4),
        pair(5),
    );
    (integration, customer)
}

fn policy(name: &str) -> Policy {
    serde_yaml::from_str(name).expect("a policy name")
}

#[test]
fn each_policy_layer_overrides_the_one_below() {
    let (integration, customer) = layered(0);
    let built_in = PolicyRule {
        create: Policy::Overwrite,
        update: Policy::FillIfEmpty,
    };
    assert_eq!(
        mapping(&load_one(&integration, &customer), "deal", "amount").policy,
        built_in
    );

    for layers in 1..=6 {
        let (integration, customer) = layered(layers);
        let config = load_one(&integration, &customer);

        let expected = PolicyRule {
            create: policy(CREATES[layers - 1]),
            update: policy(UPDATES[layers - 1]),
        };
        assert_eq!(
            mapping(&config, "deal", "amount").policy,
            expected,
            "{layers} layers"
        );
    }

    // The entity's own policy, for fields a plugin adds, has no field layers.
    let (integration, customer) = layered(6);
    let entity = &load_one(&integration, &customer).entities["deal"];
    assert_eq!(
        entity.policy,
        PolicyRule {
            create: Policy::Skip,
            update: Policy::Overwrite
        }
    );
}

#[test]
fn customer_value_maps_add_to_the_integrations_and_win() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  company:
    fields:
      sector:
        values: { retail: Commerce, technolgy: Technology }
";
    let config = load_one(INTEGRATION, customer);

    let sector = mapping(&config, "company", "sector");
    assert_eq!(sector.crm_field.as_deref(), Some("Industry"));
    let values: Vec<(&str, &str)> = sector
        .values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            ("retail", "Commerce"),
            ("software", "Technology"),
            ("technolgy", "Technology")
        ]
    );
}

#[test]
fn customer_value_maps_win_whatever_the_case_of_the_key() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  company:
    fields:
      sector:
        values: { RETAIL: Commerce }
";
    let config = load_one(INTEGRATION, customer);

    let sector = mapping(&config, "company", "sector");
    assert_eq!(
        sector.values.get("retail").map(String::as_str),
        Some("Commerce")
    );
}

#[test]
fn unmapped_removes_a_field_and_refuses_an_unknown_one() {
    let customer =
        "customer: acme\ncrm: salesforce\nentities:\n  company:\n    unmapped: [sector]\n";
    let config = load_one(INTEGRATION, customer);
    let company = &config.entities["company"];
    assert!(!company.fields.contains_key("sector"));
    assert!(company.fields.contains_key("name"));

    let typo = "customer: acme\ncrm: salesforce\nentities:\n  company:\n    unmapped: [sectr]\n";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", typo)]);
    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [(path.as_path(), "entities.company.unmapped")]
    );
    assert!(errors[0].to_string().contains("sectr"), "{}", errors[0]);
}

#[test]
fn a_reference_to_an_unmapped_entity_is_refused() {
    // The integration maps companies into HubSpot only.
    let integration = INTEGRATION.replace(
        "    salesforce:\n      object: Account",
        "    hubspot:\n      object: companies",
    );
    let (dir, errors) = load_errors(
        &integration,
        &[("acme.yaml", "customer: acme\ncrm: salesforce\n")],
    );

    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [(path.as_path(), "entities.deal.fields.account.reference")]
    );
}

#[test]
fn a_custom_entity_needs_an_object() {
    let without =
        "customer: acme\ncrm: salesforce\nentities:\n  invoice:\n    fields: { total: Total__c }\n";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", without)]);
    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [(path.as_path(), "entities.invoice")]
    );

    let with = without.replace("  invoice:\n", "  invoice:\n    object: Invoice__c\n");
    let config = load_one(INTEGRATION, &with);
    assert_eq!(config.entities["invoice"].object, "Invoice__c");
    assert_eq!(
        mapping(&config, "invoice", "total").crm_field.as_deref(),
        Some("Total__c")
    );
}

#[test]
fn a_nested_plugin_setting_is_refused() {
    let customer = "\
customer: acme
crm: salesforce
plugin:
  name: p
  version: 1.0.0
  settings:
    flat: [a, 1, true]
    tiers: { gold: 1 }
";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);

    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [(path.as_path(), "plugin.settings.tiers")]
    );
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let syntax = "customer: a\ncrm: salesforce\nexport: { updat: skip }\n";
    let invalid = "customer: b\ncrm: salesforce\nentities:\n  company:\n    unmapped: [nope]\n";
    let also_invalid = "customer: c\ncrm: salesforce\nentities:\n  thing: {}\n";
    let files = [
        ("a.yaml", syntax),
        ("b.yaml", invalid),
        ("c.yaml", also_invalid),
    ];
    let (dir, errors) = load_errors(INTEGRATION, &files);

    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        matches!(
            &errors[0],
            ConfigError::Syntax { path, line: 3, .. } if *path == customer_path(&dir, "a.yaml")
        ),
        "{:?}",
        errors[0]
    );
    let b = customer_path(&dir, "b.yaml");
    let c = customer_path(&dir, "c.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [
            (b.as_path(), "entities.company.unmapped"),
            (c.as_path(), "entities.thing")
        ]
    );
}

#[test]
fn two_files_for_one_customer_are_refused() {
    // The file stem must be the customer, so only `.yaml` and `.yml` clash.
    let customer = "customer: acme\ncrm: salesforce\n";
    let (dir, errors) = load_errors(
        INTEGRATION,
        &[("acme.yaml", customer), ("acme.yml", customer)],
    );

    let path = customer_path(&dir, "acme.yml");
    assert_eq!(invalid_keys(&errors), [(path.as_path(), "customer")]);
    assert!(errors[0].to_string().contains("acme"), "{}", errors[0]);
}

/// The one error of a refused config, which must be an `Invalid` one.
fn one_invalid(errors: &[ConfigError]) -> (&Path, Option<usize>, &str, String) {
    match errors {
        [
            error @ ConfigError::Invalid {
                path, line, key, ..
            },
        ] => (path.as_path(), *line, key.as_str(), error.to_string()),
        _ => panic!("expected one invalid-config error, got {errors:?}"),
    }
}

#[test]
fn plugin_true_without_a_plugin_is_refused() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    fields:
      amount: { plugin: true }
";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);

    let (path, line, key, message) = one_invalid(&errors);
    assert_eq!(path, customer_path(&dir, "acme.yaml"));
    assert_eq!(key, "entities.deal.fields.amount.plugin");
    assert_eq!(line, Some(6), "{message}");
    assert!(message.contains("has no `plugin`"), "{message}");

    // Set in the integration, it is refused for a customer without a plugin
    // too: the customer's file has no such key, so there is no line.
    let integration =
        INTEGRATION.replace("amount: Amount", "amount: { field: Amount, plugin: true }");
    let (_dir, errors) = load_errors(
        &integration,
        &[("acme.yaml", "customer: acme\ncrm: salesforce\n")],
    );
    let (_, line, key, message) = one_invalid(&errors);
    assert_eq!(key, "entities.deal.fields.amount.plugin");
    assert_eq!(line, None, "{message}");
    assert!(message.contains("set in the integration"), "{message}");

    // With a plugin it loads, and so does `plugin: false` without one.
    let with = format!("{customer}plugin:\n  name: acme-stages\n  version: 1.0.0\n");
    assert!(mapping(&load_one(INTEGRATION, &with), "deal", "amount").plugin);
    let off = customer.replace("plugin: true", "plugin: false");
    assert!(!mapping(&load_one(&integration, &off), "deal", "amount").plugin);
}

#[test]
fn the_customer_must_match_the_file_name() {
    let (dir, errors) = load_errors(
        INTEGRATION,
        &[(
            "northwind.yaml",
            "# Northwind\ncustomer: southwind\ncrm: salesforce\n",
        )],
    );

    let (path, line, key, message) = one_invalid(&errors);
    assert_eq!(path, customer_path(&dir, "northwind.yaml"));
    assert_eq!((key, line), ("customer", Some(2)));
    assert!(
        message.contains("`southwind`") && message.contains("`northwind`"),
        "{message}"
    );
}

#[test]
fn a_plugin_needs_a_package_name_and_a_semantic_version() {
    let customer = |name: &str, version: &str| {
        format!(
            "customer: acme\ncrm: salesforce\nplugin:\n  name: {name}\n  \
             version: '{version}'\n"
        )
    };
    for version in [
        "1.0.0",
        "0.1.0",
        "10.20.30",
        "1.0.0-rc.1",
        "1.0.0-alpha-2+build.5",
    ] {
        let config = load_one(INTEGRATION, &customer("acme_stages-2", version));
        assert_eq!(config.plugin.map(|p| p.version).as_deref(), Some(version));
    }

    for version in [
        "banana", "1.0", "1.0.0.0", "01.0.0", "v1.0.0", "1.0.0-", "1.0.0-01", "1.0.0+",
    ] {
        let (_dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", &customer("p", version))]);
        let (_, line, key, message) = one_invalid(&errors);
        assert_eq!(
            (key, line),
            ("plugin.version", Some(5)),
            "{version}: {message}"
        );
        assert!(message.contains(&format!("`{version}`")), "{message}");
    }

    for name in [
        "'../evil'",
        "a/b",
        "'my plugin'",
        "Stages",
        "-stages",
        "_p",
        "''",
    ] {
        let (_dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", &customer(name, "1.0.0"))]);
        let (_, line, key, message) = one_invalid(&errors);
        assert_eq!((key, line), ("plugin.name", Some(4)), "{name}: {message}");
        assert!(message.contains("not a plain package name"), "{message}");
    }
}

#[test]
fn a_misspelled_field_is_named_with_the_closest_mapped_one() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  deal:
    # Amount moves with the deal.
    fields:
      amonut: { update: overwrite }
";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);

    let (path, line, key, message) = one_invalid(&errors);
    assert_eq!(path, customer_path(&dir, "acme.yaml"));
    assert_eq!((key, line), ("entities.deal.fields.amonut", Some(7)));
    assert!(
        message.contains("`amonut` is not a field of entity `deal` in the integration"),
        "{message}"
    );
    assert!(message.contains("did you mean `amount`?"), "{message}");
    assert!(message.contains("needs its CRM `field`"), "{message}");
    assert!(!message.contains("no CRM `field` given"), "{message}");
    assert!(
        message.starts_with(&format!(
            "{}:7: `entities.deal.fields.amonut`: ",
            path.display()
        )),
        "{message}"
    );

    // Nothing close: the fields the integration maps are listed.
    let far = customer.replace("amonut", "probability");
    let (_dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", &far)]);
    let (_, _, _, message) = one_invalid(&errors);
    assert!(
        message.contains("it maps `account`, `amount`, `name`"),
        "{message}"
    );

    // A new field with its CRM field is still welcome.
    let new = customer.replace("{ update: overwrite }", "{ field: Probability }");
    let config = load_one(INTEGRATION, &new);
    assert_eq!(
        mapping(&config, "deal", "amonut").crm_field.as_deref(),
        Some("Probability")
    );
}

#[test]
fn errors_after_parsing_name_the_line_of_their_key() {
    let customer = "\
customer: acme
crm: salesforce
entities:
  company:
    unmapped: [sectr]
  deal:
    fields: { name: { update: skip } }
  # thing: commented out
  thing:
    fields:
      total: Total__c
";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);

    let lines: Vec<(&str, Option<usize>)> = errors
        .iter()
        .filter_map(|e| match e {
            ConfigError::Invalid { key, line, .. } => Some((key.as_str(), *line)),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("entities.thing", Some(9)),
            ("entities.company.unmapped", Some(5))
        ],
        "{errors:?}"
    );
    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:9: `entities.thing`: entity is not in the integration; \
             a custom entity needs `object`",
            path.display()
        )
    );
}

#[test]
fn key_lines_follow_indentation_and_one_line_flow_maps() {
    use super::locate::key_line;

    let text = "\
customer: acme
entities:
  company:
    fields:
      name: { update: skip }
  deal:
    fields: { stage: { plugin: true } }
    unmapped:
      - name
plugin:
  name: p
";
    assert_eq!(key_line(text, "customer"), Some(1));
    assert_eq!(key_line(text, "entities.company.fields.name"), Some(5));
    assert_eq!(
        key_line(text, "entities.company.fields.name.update"),
        Some(5)
    );
    assert_eq!(key_line(text, "entities.deal.fields.stage.plugin"), Some(7));
    assert_eq!(key_line(text, "entities.deal.unmapped"), Some(8));
    assert_eq!(key_line(text, "plugin.name"), Some(11));
    // `name` under `company.fields` is not `deal`'s, nor the plugin's.
    assert_eq!(key_line(text, "entities.deal.name"), None);
    assert_eq!(key_line(text, "entities.company.name"), None);
    assert_eq!(key_line(text, "entities.invoice"), None);
    assert_eq!(key_line(text, "entities.deal.fields.amount"), None);
}

#[test]
fn clearing_is_refused_where_the_update_policy_never_changes_a_value() {
    let customer = "customer: acme\ncrm: salesforce\nentities:\n  company:\n    fields:\n      \
                    name: { clear: true }\n";
    let (dir, errors) = load_errors(INTEGRATION, &[("acme.yaml", customer)]);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].contains("`entities.company.fields.name`"),
        "{}",
        shown[0]
    );
    assert!(
        shown[0].contains("needs `update: overwrite`"),
        "{}",
        shown[0]
    );
    drop(dir);

    let allowed = "customer: acme\ncrm: salesforce\nentities:\n  company:\n    fields:\n      \
                   name: { clear: true, update: overwrite }\n";
    assert!(load_one(INTEGRATION, allowed).entities["company"].fields["name"].clear);
}

const WITH_ACTIVITIES: &str = "\
entities:
  contact:
    salesforce:
      object: Contact
      match: Email
      fields: { email: Email }
activities:
  call:
    export: { update: skip }
    salesforce:
      object: Task
      match: Conduit_Key__c
      owner: { field: OwnerId }
      fields:
        subject: Subject
        task_subtype: { field: TaskSubtype, default: Call }
";

#[test]
fn an_activity_kind_resolves_as_an_entity_of_its_own() {
    let config = load_one(WITH_ACTIVITIES, "customer: acme\ncrm: salesforce\n");
    let call = &config.entities["activity.call"];
    assert_eq!(call.object, "Task");
    assert_eq!(call.match_field.as_deref(), Some("Conduit_Key__c"));
    assert_eq!(call.policy.update, Policy::Skip);
    assert_eq!(
        mapping(&config, "activity.call", "task_subtype").default,
        Some(Value::Text("Call".into()))
    );
}

#[test]
fn an_activity_moved_to_another_object_maps_its_own_fields() {
    let customer = "\
customer: acme
crm: salesforce
activities:
  call:
    object: Sales_Activity__c
    fields:
      body: Notes__c
";
    let config = load_one(WITH_ACTIVITIES, customer);
    let call = &config.entities["activity.call"];
    assert_eq!(call.object, "Sales_Activity__c");
    let fields: Vec<&str> = call.fields.keys().map(String::as_str).collect();
    assert_eq!(fields, ["body"], "Task's fields do not follow the activity");
    assert_eq!(call.match_field.as_deref(), Some("Conduit_Key__c"));
    assert_eq!(
        call.owner.as_ref().map(|o| o.field.as_str()),
        Some("OwnerId")
    );
}

#[test]
fn activity_errors_name_the_activities_key() {
    let customer = "\
customer: acme
crm: salesforce
activities:
  call:
    fields:
      subjet: { update: overwrite }
";
    let (dir, errors) = load_errors(WITH_ACTIVITIES, &[("acme.yaml", customer)]);
    let path = customer_path(&dir, "acme.yaml");
    assert_eq!(
        invalid_keys(&errors),
        [(path.as_path(), "activities.call.fields.subjet")]
    );
}

#[test]
fn an_unknown_activity_kind_and_a_dotted_entity_are_refused() {
    let kind = "customer: acme\ncrm: salesforce\nactivities:\n  webinar:\n    object: Task\n";
    let (_dir, errors) = load_errors(WITH_ACTIVITIES, &[("acme.yaml", kind)]);
    let said = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(said.contains("webinar"), "{said}");

    let dotted = "customer: acme\ncrm: salesforce\nentities:\n  activity.call:\n    object: Task\n";
    let (dir, errors) = load_errors(WITH_ACTIVITIES, &[("acme.yaml", dotted)]);
    let path = customer_path(&dir, "acme.yaml");
    assert!(
        invalid_keys(&errors).contains(&(path.as_path(), "entities.activity.call")),
        "{errors:?}"
    );
}
