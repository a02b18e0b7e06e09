//! The files of a new plugin crate, as `conduit plugin new` writes them.

/// The crate's files, by path inside it, for plugin `name` whose Rust type
/// is `type_name`, against the SDK at `sdk` (a path).
pub(super) fn files(name: &str, type_name: &str, sdk: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("src/lib.rs", lib_rs(name, type_name)),
        ("fixtures.json", FIXTURES.to_owned()),
        (".gitignore", "/target\n".to_owned()),
    ]
}

fn cargo_toml(name: &str, sdk: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
conduit-plugin-sdk = {{ path = "{sdk}" }}

# A plugin is a workspace of its own, wherever it is created.
[workspace]
"#
    )
}

fn lib_rs(name: &str, type_name: &str) -> String {
    format!(
        r#"//! `{name}`: a conduit mapping plugin.
//!
//! A sample to edit: a deal the agent calls `Engaging` with an amount of
//! 10,000 or more is `decisionmakerboughtin`; anything else is left to the
//! customer's declarative mapping. `fixtures.json` holds the cases
//! `conduit plugin test` runs and the host runs again on upload.

use conduit_plugin_sdk::{{AgentRecord, Host, Plugin, PluginError, Value}};

/// The amount from which an engaging deal counts as committed.
const COMMITTED: f64 = 10_000.0;

/// The plugin.
#[derive(Debug, Default)]
pub struct {type_name};

impl Plugin for {type_name} {{
    fn translate_status(
        &self,
        _host: &dyn Host,
        _object: &str,
        _field: &str,
        status: &str,
        record: &AgentRecord,
    ) -> Result<Option<Value>, PluginError> {{
        let committed = record.number("amount").unwrap_or(0.0) >= COMMITTED;
        Ok((status == "Engaging" && committed).then(|| Value::from("decisionmakerboughtin")))
    }}
}}

conduit_plugin_sdk::export_plugin!({type_name});
"#
    )
}

const FIXTURES: &str = r#"{
  "settings": {},
  "cases": [
    {
      "name": "a committed engaging deal is decisionmakerboughtin",
      "hook": "translate_status",
      "object": "deals",
      "field": "dealstage",
      "status": "Engaging",
      "record": { "entity": "deal", "fields": { "amount": 25000 } },
      "expect": "decisionmakerboughtin"
    },
    {
      "name": "a small engaging deal is left to the mapping",
      "hook": "translate_status",
      "object": "deals",
      "field": "dealstage",
      "status": "Engaging",
      "record": { "entity": "deal", "fields": { "amount": 900 } },
      "expect": null
    }
  ]
}
"#;
