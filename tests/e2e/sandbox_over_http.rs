//! A hostile plugin behind the HTTP API: a runaway loop or a memory bomb
//! fails only its own record, within a bounded time, and the host goes on
//! serving.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use conduit_tests::{Harness, config_with_customer, results};

/// A config directory with the examples' integration and one Salesforce
/// customer running the misbehaving test plugin.
fn hostile_config() -> anyhow::Result<tempfile::TempDir> {
    config_with_customer(
        "hostile",
        "customer: hostile\ncrm: salesforce\n\
         plugin:\n  name: misbehave-plugin\n  version: 0.1.0\n",
    )
}

fn company(name: &str, mode: &str) -> Value {
    json!({ "entity": "company", "operation": "upsert", "key": name,
            "fields": { "name": name, "mode": mode } })
}

async fn attack(mode: &str, code: &str) -> anyhow::Result<()> {
    let config = hostile_config()?;
    let harness = Harness::start(config.path()).await?;

    let started = Instant::now();
    let batch = json!([
        company("Before", "none"),
        company("Victim", mode),
        company("After", "none")
    ]);
    let answer = harness.write("hostile", batch).await?;
    let elapsed = started.elapsed();

    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(answers[1]["status"], "failed", "{answer}");
    assert_eq!(answers[1]["error"]["code"], code, "{answer}");
    assert_eq!(answers[1]["error"]["plugin"], "misbehave-plugin@0.1.0");
    assert_eq!(
        answers[2]["status"], "created",
        "the record after the trap is served: {answer}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "the batch took {elapsed:?}"
    );

    // The next request runs on a fresh instance.
    let answer = harness
        .write("hostile", json!([company("Next", "none")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    let names: Vec<Value> = harness
        .salesforce
        .org
        .records("Account")
        .iter()
        .map(|a| a["Name"].clone())
        .collect();
    assert!(
        !names.contains(&json!("Victim")),
        "the trapped record was written: {names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_plugin_that_loops_forever_fails_only_its_record() -> anyhow::Result<()> {
    attack("loop", "plugin_failed").await
}

#[tokio::test]
async fn a_plugin_that_allocates_past_its_cap_fails_only_its_record() -> anyhow::Result<()> {
    attack("alloc", "plugin_failed").await
}

#[tokio::test]
async fn a_plugin_error_fails_its_record_with_the_plugins_code() -> anyhow::Result<()> {
    attack("error", "asked_to_fail").await
}
