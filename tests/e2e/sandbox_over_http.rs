//! A hostile plugin behind the HTTP API: a runaway loop, a memory bomb, a
//! runaway recursion, an oversized answer or a panic fails only its own
//! record, within a bounded time, and the host goes on serving; a component
//! that imports files or sockets is refused at upload; a plugin that keeps
//! trapping is paused for its customer until CS resumes it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use reqwest::{Method, StatusCode};

use conduit_tests::{Harness, config_with_customer, plugin_wasm, results};

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

async fn attack(mode: &str, code: &str) -> anyhow::Result<Value> {
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
    Ok(answers[1]["error"].clone())
}

#[tokio::test]
async fn a_plugin_that_loops_forever_fails_only_its_record() -> anyhow::Result<()> {
    attack("loop", "plugin_failed").await.map(drop)
}

#[tokio::test]
async fn a_plugin_that_allocates_past_its_cap_fails_only_its_record() -> anyhow::Result<()> {
    attack("alloc", "plugin_failed").await.map(drop)
}

#[tokio::test]
async fn a_plugin_error_fails_its_record_with_the_plugins_code() -> anyhow::Result<()> {
    attack("error", "asked_to_fail").await.map(drop)
}

#[tokio::test]
async fn a_plugin_that_recurses_without_end_fails_only_its_record() -> anyhow::Result<()> {
    let error = attack("stack", "plugin_failed").await?;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("stack limit")),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn a_plugin_that_answers_a_flood_fails_only_its_record() -> anyhow::Result<()> {
    let error = attack("flood", "plugin_failed").await?;
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("over the 1048576 bytes"), "{error}");
    Ok(())
}

#[tokio::test]
async fn a_plugin_that_panics_fails_its_record_with_the_plugins_message() -> anyhow::Result<()> {
    let error = attack("panic", "plugin_failed").await?;
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("panicked: misbehave: asked to panic"),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn a_component_that_imports_files_or_sockets_is_refused_at_upload() -> anyhow::Result<()> {
    let config = hostile_config()?;
    let harness = Harness::start(config.path()).await?;
    let upload = harness
        .request(Method::PUT, "/v1/plugins/intruder-plugin/0.1.0")
        .body(plugin_wasm("intruder-plugin")?);
    let response = upload.send().await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await?;
    assert_eq!(refused["code"], "forbidden_import", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("wasi:filesystem") || detail.contains("wasi:sockets"),
        "{detail}"
    );
    let listed = harness
        .request(Method::GET, "/v1/plugins/intruder-plugin")
        .send()
        .await?;
    assert_eq!(
        listed.status(),
        StatusCode::NOT_FOUND,
        "a refused upload is not stored"
    );

    let answer = harness
        .write("hostile", json!([company("Next", "none")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_plugin_built_against_a_newer_contract_is_refused_naming_both() -> anyhow::Result<()> {
    let config = hostile_config()?;
    let harness = Harness::start(config.path()).await?;
    let upload = harness
        .request(Method::PUT, "/v1/plugins/future-contract-plugin/0.1.0")
        .body(plugin_wasm("future-contract-plugin")?);
    let response = upload.send().await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await?;
    assert_eq!(refused["code"], "contract_version", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("conduit:plugin/host@0.2.0"), "{detail}");
    assert!(detail.contains("conduit:plugin@0.1.0"), "{detail}");

    let answer = harness
        .write("hostile", json!([company("Next", "none")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_plugin_that_keeps_trapping_is_paused_until_cs_resumes_it() -> anyhow::Result<()> {
    let config = hostile_config()?;
    let harness = Harness::start(config.path()).await?;
    let agent = harness.create_key("agent", "agent", &["hostile"]).await?;
    let cs = harness.create_key("cs", "cs", &[]).await?;
    let trapping: Vec<Value> = (0..conduit_host::lifecycle::TRAPS_BEFORE_PAUSE)
        .map(|i| company(&format!("Trap {i}"), "panic"))
        .collect();
    let answer = harness.write("hostile", json!(trapping)).await?;
    assert!(
        results(&answer)
            .iter()
            .all(|r| r["error"]["code"] == "plugin_failed"),
        "{answer}"
    );

    // Paused: every record fails at once, with how to resume.
    let answer = harness
        .write("hostile", json!([company("Waiting", "none")]))
        .await?;
    let error = &results(&answer)[0]["error"];
    assert_eq!(error["code"], "plugin_paused", "{answer}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("plugin/resume")),
        "{error}"
    );
    let state = harness.request_as(&cs, Method::GET, "/v1/customers/hostile/plugin");
    let state: Value = state.send().await?.json().await?;
    assert!(
        state["paused"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("asked to panic"))
    );

    // An agent cannot lift it; CS can, and the next request is served.
    let path = "/v1/customers/hostile/plugin/resume";
    let refused = harness
        .request_as(&agent, Method::POST, path)
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let resumed = harness.request_as(&cs, Method::POST, path).send().await?;
    assert_eq!(resumed.status(), StatusCode::OK);
    let answer = harness
        .write("hostile", json!([company("Resumed", "none")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    Ok(())
}
