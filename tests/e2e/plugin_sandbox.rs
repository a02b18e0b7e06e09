//! The plugin runtime driven end to end with plugins built from source: the
//! globex stage translation through wasm, and the sandbox holding against a
//! plugin that loops, hoards memory, panics or fails on purpose.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conduit_host::plugin::{
    CompiledFrom, PluginCallError, PluginContext, PluginInstance, PluginLoadError, PluginRuntime,
    RuntimeConfig, TrapReason, build_plugin,
};
use conduit_host::record::{AgentRecord, CrmWrite, Fields, Operation, Value};
use conduit_host::schema::{FieldSchema, FieldType, ObjectSchema, OrgSchema, PicklistValue};

/// The components under test, built once per test binary.
struct Built {
    globex: Vec<u8>,
    misbehave: Vec<u8>,
    intruder: Vec<u8>,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent");
        let read = |package: &str| {
            let path = build_plugin(root, package).expect("the plugin builds");
            std::fs::read(&path).expect("the built component is readable")
        };
        Built {
            globex: read("globex-deal-stages"),
            misbehave: read("misbehave-plugin"),
            intruder: read("intruder-plugin"),
        }
    })
}

const DEADLINE: Duration = Duration::from_millis(200);
const MEMORY_LIMIT: usize = 32 << 20;

fn runtime() -> PluginRuntime {
    let config = RuntimeConfig {
        memory_limit_bytes: MEMORY_LIMIT,
        deadline: DEADLINE,
        cache_dir: None,
    };
    PluginRuntime::new(config).expect("the runtime starts")
}

/// HubSpot's default pipeline, or `stages` when given.
fn deals_schema(stages: &[&str]) -> OrgSchema {
    let picklist_values = stages
        .iter()
        .map(|s| PicklistValue {
            value: s.to_string(),
            label: s.to_string(),
            active: true,
        })
        .collect();
    let dealstage = FieldSchema {
        label: "Deal Stage".into(),
        picklist_values,
        restricted: true,
        ..FieldSchema::new("dealstage", FieldType::Picklist)
    };
    let deals = ObjectSchema {
        name: "deals".into(),
        fields: BTreeMap::from([("dealstage".to_string(), dealstage)]),
    };
    OrgSchema {
        objects: BTreeMap::from([("deals".to_string(), deals)]),
        ..OrgSchema::default()
    }
}

const DEFAULT_PIPELINE: [&str; 7] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

fn context(customer: &str, schema: OrgSchema) -> PluginContext {
    let premium = Value::Multi(vec!["GTX Pro".into(), "MG Advanced".into()]);
    PluginContext {
        customer: customer.into(),
        settings: BTreeMap::from([
            ("premium_products".to_string(), premium),
            ("commit_threshold".to_string(), Value::Number(5000.0)),
        ]),
        schema: Arc::new(schema),
    }
}

fn record(fields: &[(&str, Value)]) -> AgentRecord {
    let fields: Fields = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    AgentRecord {
        entity: "deal".into(),
        operation: Operation::Upsert,
        key: None,
        acting_for: None,
        fields,
    }
}

fn text(value: &str) -> Value {
    Value::Text(value.into())
}

fn draft() -> Vec<CrmWrite> {
    vec![CrmWrite {
        object: "deals".into(),
        reference_id: None,
        match_key: None,
        fields: Fields::from([("dealname".to_string(), text("GTX Pro for Isdom"))]),
        associations: Vec::new(),
    }]
}

fn misbehave(customer: &str) -> PluginInstance {
    let plugin = runtime()
        .load("misbehave-plugin", "0.1.0", &built().misbehave)
        .expect("loads");
    plugin.instance(context(customer, OrgSchema::default()))
}

fn map_mode(instance: &mut PluginInstance, mode: &str) -> Result<Vec<CrmWrite>, PluginCallError> {
    instance.map_record(&record(&[("mode", text(mode))]), &draft())
}

fn trap_reason(result: Result<Vec<CrmWrite>, PluginCallError>) -> TrapReason {
    match result {
        Err(PluginCallError::Trapped {
            reason,
            plugin,
            version,
        }) => {
            assert_eq!(
                (plugin.as_str(), version.as_str()),
                ("misbehave-plugin", "0.1.0")
            );
            reason
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn globex_stages_translate_through_the_runtime() {
    let plugin = runtime()
        .load("globex-deal-stages", "0.1.0", &built().globex)
        .expect("loads");
    let mut globex = plugin.instance(context("globex", deals_schema(&DEFAULT_PIPELINE)));
    let mut stage = |status: &str, deal: AgentRecord| {
        globex
            .translate_status("deals", "dealstage", status, &deal)
            .expect("translates")
    };

    assert_eq!(stage("Won", record(&[])), Some(text("closedwon")));
    assert_eq!(stage("Lost", record(&[])), Some(text("closedlost")));
    assert_eq!(
        stage("Prospecting", record(&[])),
        Some(text("appointmentscheduled"))
    );
    let with_account = record(&[("account", text("Isdom"))]);
    assert_eq!(
        stage("Prospecting", with_account),
        Some(text("qualifiedtobuy"))
    );
    let premium = record(&[("product", text("GTXPro")), ("amount", Value::Number(10.0))]);
    assert_eq!(
        stage("Engaging", premium),
        Some(text("decisionmakerboughtin"))
    );
    let big = record(&[
        ("product", text("GTX Basic")),
        ("amount", Value::Number(5000.0)),
    ]);
    assert_eq!(stage("Engaging", big), Some(text("decisionmakerboughtin")));
    let small = record(&[
        ("product", text("GTX Basic")),
        ("amount", Value::Number(550.0)),
    ]);
    assert_eq!(
        stage("Engaging", small),
        Some(text("presentationscheduled"))
    );

    let other = globex.translate_status("contacts", "lifecyclestage", "Won", &record(&[]));
    assert_eq!(other.expect("left alone"), None);
}

#[test]
fn globex_unknown_stage_is_rejected_with_the_allowed_values() {
    let plugin = runtime()
        .load("globex-deal-stages", "0.1.0", &built().globex)
        .expect("loads");
    let mut globex = plugin.instance(context(
        "globex",
        deals_schema(&["closedwon", "closedlost"]),
    ));

    let missing = globex.translate_status("deals", "dealstage", "Prospecting", &record(&[]));
    let Err(PluginCallError::Rejected { error, .. }) = missing else {
        panic!("expected a rejection, got {missing:?}");
    };
    assert_eq!(error.code, "unknown_stage");
    assert_eq!(error.field.as_deref(), Some("dealstage"));
    assert!(
        error.message.contains("closedwon, closedlost"),
        "{}",
        error.message
    );

    let unknown = globex.translate_status("deals", "dealstage", "Negotiating", &record(&[]));
    assert!(
        matches!(unknown, Err(PluginCallError::Rejected { ref error, .. })
        if error.code == "unknown_stage"),
        "{unknown:?}"
    );

    // A rejection leaves the instance running.
    let won = globex.translate_status("deals", "dealstage", "Won", &record(&[]));
    assert_eq!(won.expect("still running"), Some(text("closedwon")));
}

#[test]
fn a_runaway_loop_fails_only_that_call() {
    let mut instance = misbehave("acme");

    let started = Instant::now();
    let reason = trap_reason(map_mode(&mut instance, "loop"));
    assert_eq!(reason, TrapReason::Deadline(DEADLINE));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let after = map_mode(&mut instance, "pass").expect("a fresh instance answers");
    assert_eq!(after, draft());
}

#[test]
fn a_memory_bomb_hits_the_cap_and_the_next_call_succeeds() {
    let mut instance = misbehave("acme");

    let reason = trap_reason(map_mode(&mut instance, "alloc"));
    assert_eq!(reason, TrapReason::Memory(MEMORY_LIMIT));

    assert_eq!(
        map_mode(&mut instance, "pass").expect("a fresh instance answers"),
        draft()
    );
}

#[test]
fn a_panic_reports_its_message() {
    let mut instance = misbehave("acme");

    let error = map_mode(&mut instance, "panic").expect_err("it panics");
    let message = error.to_string();
    assert_eq!(
        trap_reason(Err(error)),
        TrapReason::Panic("misbehave: asked to panic".into())
    );
    assert_eq!(
        message,
        "plugin `misbehave-plugin` 0.1.0 panicked: misbehave: asked to panic"
    );

    assert_eq!(
        map_mode(&mut instance, "pass").expect("a fresh instance answers"),
        draft()
    );
}

#[test]
fn a_runaway_recursion_hits_the_stack_limit_and_the_next_call_succeeds() {
    let mut instance = misbehave("acme");

    assert_eq!(
        trap_reason(map_mode(&mut instance, "stack")),
        TrapReason::StackOverflow
    );
    assert_eq!(
        map_mode(&mut instance, "pass").expect("a fresh instance answers"),
        draft()
    );
}

#[test]
fn an_oversized_answer_is_refused_and_the_instance_goes_on() {
    let mut instance = misbehave("acme");

    match map_mode(&mut instance, "flood") {
        Err(PluginCallError::InvalidOutput { reason, .. }) => {
            assert!(reason.contains("over the 1048576 bytes"), "{reason}");
        }
        other => panic!("expected an invalid answer, got {other:?}"),
    }
    assert_eq!(
        map_mode(&mut instance, "pass").expect("it answers"),
        draft()
    );
}

#[test]
fn a_component_that_imports_files_or_sockets_is_refused_at_load() {
    let refused = runtime().load("intruder-plugin", "0.1.0", &built().intruder);
    match refused {
        Err(PluginLoadError::ForbiddenImport { import, .. }) => {
            assert!(
                import.starts_with("wasi:filesystem/") || import.starts_with("wasi:sockets/"),
                "{import}"
            );
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
}

#[test]
fn a_plugin_error_is_rejected_not_trapped() {
    let mut instance = misbehave("acme");

    match map_mode(&mut instance, "error") {
        Err(PluginCallError::Rejected { error, .. }) => {
            assert_eq!(error.code, "asked_to_fail");
            assert_eq!(error.field.as_deref(), Some("mode"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn customers_do_not_share_plugin_state() {
    let plugin = runtime()
        .load("misbehave-plugin", "0.1.0", &built().misbehave)
        .expect("loads");
    let mut acme = plugin.instance(context("acme", OrgSchema::default()));
    let mut globex = plugin.instance(context("globex", OrgSchema::default()));
    let count = |instance: &mut PluginInstance| {
        let writes = map_mode(instance, "count").expect("counts");
        writes[0].fields.get("count").cloned()
    };

    assert_eq!(count(&mut acme), Some(Value::Number(1.0)));
    assert_eq!(count(&mut acme), Some(Value::Number(2.0)));
    assert_eq!(count(&mut globex), Some(Value::Number(1.0)));
    assert_eq!(count(&mut acme), Some(Value::Number(3.0)));
}

#[test]
fn a_plugin_sees_no_environment_arguments_or_clock() {
    let mut instance = misbehave("acme");

    let writes = map_mode(&mut instance, "probe").expect("probes");
    let seen = &writes[0].fields;
    assert_eq!(seen.get("env_vars"), Some(&Value::Number(0.0)));
    assert_eq!(seen.get("args"), Some(&Value::Number(0.0)));
    assert_eq!(seen.get("clock"), Some(&Value::Number(0.0)));
}

#[test]
fn bytes_that_are_not_a_component_are_refused_at_load() {
    let refused = runtime().load("junk", "0.0.1", b"\0asm not really");
    assert!(
        matches!(refused, Err(PluginLoadError::Compile { .. })),
        "{refused:?}"
    );
}

#[test]
fn the_compile_cache_survives_a_new_runtime() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = RuntimeConfig {
        memory_limit_bytes: MEMORY_LIMIT,
        deadline: DEADLINE,
        cache_dir: Some(dir.path().to_owned()),
    };
    let wasm = &built().globex;

    let first = PluginRuntime::new(config.clone()).expect("starts");
    let compiled = first
        .load("globex-deal-stages", "0.1.0", wasm)
        .expect("loads");
    let again = first
        .load("globex-deal-stages", "0.1.0", wasm)
        .expect("loads");
    assert_eq!(compiled.compiled_from(), CompiledFrom::Compiled);
    assert_eq!(again.compiled_from(), CompiledFrom::Memory);
    assert_eq!(again.content_hash(), compiled.content_hash());
    let cached = dir
        .path()
        .join(format!("{}.cwasm", compiled.content_hash()));
    assert!(cached.exists(), "{} was not written", cached.display());

    let restarted = PluginRuntime::new(config).expect("starts");
    let loaded = restarted
        .load("globex-deal-stages", "0.1.0", wasm)
        .expect("loads");
    assert_eq!(loaded.compiled_from(), CompiledFrom::Disk);

    let mut globex = loaded.instance(context("globex", deals_schema(&DEFAULT_PIPELINE)));
    let won = globex.translate_status("deals", "dealstage", "Won", &record(&[]));
    assert_eq!(won.expect("runs from the cache"), Some(text("closedwon")));
}
