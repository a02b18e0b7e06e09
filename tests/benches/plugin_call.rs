//! What a plugin call costs through the wasm runtime, against the same logic
//! called natively (the plugin crate as an rlib, with the SDK's `FakeHost`).
//!
//! Run with `cargo bench -p conduit-tests --bench plugin_call`. The wasm side
//! includes converting the host's types to the contract's and back, which the
//! native side does not need.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use conduit_host::plugin::{PluginContext, PluginRuntime, RuntimeConfig, build_plugin};
use conduit_host::record::{AgentRecord, CrmWrite, Fields, Operation, Value};
use conduit_host::schema::{FieldSchema, FieldType, ObjectSchema, OrgSchema, PicklistValue};
use conduit_plugin_sdk as sdk;
use conduit_plugin_sdk::Plugin as _;
use conduit_plugin_sdk::testing::FakeHost;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use globex_deal_stages::GlobexDealStages;
use misbehave_plugin::Misbehave;

const STAGES: [&str; 7] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

fn wasm(package: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent");
    let path = build_plugin(root, package).expect("the plugin builds");
    std::fs::read(path).expect("the component is readable")
}

fn host_schema() -> OrgSchema {
    let values = STAGES
        .iter()
        .map(|s| PicklistValue {
            value: s.to_string(),
            label: s.to_string(),
            active: true,
        })
        .collect();
    let dealstage = FieldSchema {
        label: "Deal Stage".into(),
        picklist_values: values,
        restricted: true,
        ..FieldSchema::new("dealstage", FieldType::Picklist)
    };
    let fields = BTreeMap::from([("dealstage".to_string(), dealstage)]);
    let deals = ObjectSchema {
        name: "deals".into(),
        fields,
    };
    OrgSchema {
        objects: BTreeMap::from([("deals".to_string(), deals)]),
        ..OrgSchema::default()
    }
}

fn sdk_schema() -> sdk::ObjectSchema {
    let values = STAGES
        .iter()
        .map(|s| sdk::PicklistValue {
            value: s.to_string(),
            label: s.to_string(),
            active: true,
        })
        .collect();
    let dealstage = sdk::FieldSchema {
        name: "dealstage".into(),
        label: "Deal Stage".into(),
        kind: sdk::FieldType::Picklist,
        createable: true,
        updateable: true,
        required: false,
        picklist_values: values,
        restricted: true,
        reference_to: Vec::new(),
        length: None,
    };
    sdk::ObjectSchema {
        name: "deals".into(),
        fields: vec![dealstage],
    }
}

fn premium() -> Vec<String> {
    vec!["GTX Pro".into(), "MG Advanced".into()]
}

fn context() -> PluginContext {
    PluginContext {
        customer: "globex".into(),
        settings: BTreeMap::from([
            ("premium_products".to_string(), Value::Multi(premium())),
            ("commit_threshold".to_string(), Value::Number(5000.0)),
        ]),
        schema: Arc::new(host_schema()),
    }
}

/// A deal on the `Engaging` path, which reads both settings and the schema.
fn engaging_deal() -> (AgentRecord, sdk::AgentRecord) {
    let fields: Fields = [
        ("product".to_string(), Value::Text("GTXPro".into())),
        ("amount".to_string(), Value::Number(4514.0)),
        ("account".to_string(), Value::Text("Isdom".into())),
    ]
    .into();
    let host = AgentRecord {
        entity: "deal".into(),
        operation: Operation::Upsert,
        key: None,
        acting_for: None,
        fields,
    };
    let guest = sdk::AgentRecord::new("deal")
        .with_field("product", "GTXPro")
        .with_field("amount", 4514.0)
        .with_field("account", "Isdom");
    (host, guest)
}

/// A 20-field record and a 20-field draft, on misbehave's pass-through path.
fn wide_record() -> (
    AgentRecord,
    Vec<CrmWrite>,
    sdk::AgentRecord,
    Vec<sdk::CrmWrite>,
) {
    let mut fields = Fields::new();
    let mut guest = sdk::AgentRecord::new("deal");
    let mut write = sdk::CrmWrite::new("deals");
    for i in 0..19 {
        let value = if i % 2 == 0 {
            Value::Text(format!("value number {i}"))
        } else {
            Value::Number(f64::from(i) * 100.5)
        };
        let guest_value = match &value {
            Value::Text(text) => sdk::Value::Text(text.clone()),
            Value::Number(n) => sdk::Value::Number(*n),
            _ => sdk::Value::Null,
        };
        guest = guest.with_field(&format!("field_{i}"), guest_value.clone());
        write.set_field(&format!("crm_field_{i}"), guest_value);
        fields.insert(format!("field_{i}"), value);
    }
    fields.insert("mode".into(), Value::Text("pass".into()));
    guest = guest.with_field("mode", "pass");
    write.set_field("mode__c", "pass");

    let host_write = CrmWrite {
        object: "deals".into(),
        reference_id: None,
        match_key: None,
        fields: fields
            .iter()
            .map(|(k, v)| (format!("crm_{k}"), v.clone()))
            .collect(),
        associations: Vec::new(),
    };
    let host = AgentRecord {
        entity: "deal".into(),
        operation: Operation::Upsert,
        key: None,
        acting_for: None,
        fields,
    };
    (host, vec![host_write], guest, vec![write])
}

fn translate_status(c: &mut Criterion) {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let plugin = runtime.load("globex-deal-stages", "0.1.0", &wasm("globex-deal-stages"));
    let mut instance = plugin.expect("loads").instance(context());
    let (deal, guest_deal) = engaging_deal();
    let fake = FakeHost::new()
        .with_schema(sdk_schema())
        .with_setting("premium_products", premium())
        .with_setting("commit_threshold", 5000.0);

    let mut group = c.benchmark_group("translate_status");
    group.bench_function("wasm", |b| {
        b.iter(|| instance.translate_status("deals", "dealstage", "Engaging", black_box(&deal)))
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            let plugin = GlobexDealStages;
            plugin.translate_status(
                &fake,
                "deals",
                "dealstage",
                "Engaging",
                black_box(&guest_deal),
            )
        })
    });
    group.finish();
}

fn map_record_20_fields(c: &mut Criterion) {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let plugin = runtime.load("misbehave-plugin", "0.1.0", &wasm("misbehave-plugin"));
    let mut instance = plugin.expect("loads").instance(context());
    let (record, draft, guest_record, guest_draft) = wide_record();
    let fake = FakeHost::new();

    let mut group = c.benchmark_group("map_record_20_fields");
    group.bench_function("wasm", |b| {
        b.iter(|| instance.map_record(black_box(&record), &draft))
    });
    group.bench_function("native", |b| {
        b.iter(|| Misbehave.map_record(&fake, black_box(&guest_record), guest_draft.clone()))
    });
    group.finish();
}

fn instances(c: &mut Criterion) {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let plugin = runtime.load("globex-deal-stages", "0.1.0", &wasm("globex-deal-stages"));
    let plugin = plugin.expect("loads");
    let (deal, _) = engaging_deal();
    let mut warm = plugin.instance(context());

    let mut group = c.benchmark_group("instance");
    group.bench_function("new_instance_and_first_call", |b| {
        b.iter_batched(
            context,
            |ctx| {
                plugin
                    .instance(ctx)
                    .translate_status("deals", "dealstage", "Won", &deal)
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("warm_call", |b| {
        b.iter(|| warm.translate_status("deals", "dealstage", "Won", black_box(&deal)))
    });
    group.finish();

    let globex = wasm("globex-deal-stages");
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter_batched(
            || PluginRuntime::new(RuntimeConfig::default()).expect("runtime"),
            |fresh| {
                fresh
                    .load("globex-deal-stages", "0.1.0", &globex)
                    .map(|_| ())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, translate_status, map_record_20_fields, instances);
criterion_main!(benches);
