//! A plugin version's life over the admin API: uploaded by an engineer with
//! its fixture cases run, approved by someone else, activated for a customer
//! without a restart, rolled back in one call, every step audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, plugin_wasm, results, with_fixtures};

const REP: &str = "anna.snelling@globex.example";

/// A pass-through case for the misbehaving plugin, which answers the draft
/// unchanged for any mode it does not know.
fn passing_fixtures() -> Value {
    json!({ "cases": [{
        "name": "the draft comes back unchanged",
        "hook": "map_record",
        "record": { "entity": "deal", "fields": { "mode": "none" } },
        "draft": [{ "object": "deals", "fields": { "dealname": "A" } }],
        "expect": [{ "object": "deals", "fields": { "dealname": "A" } }],
    }]})
}

async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = request.send().await?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// A premium deal: the globex plugin places it in `decisionmakerboughtin`;
/// the declarative value map alone in `presentationscheduled`.
fn premium_deal(key: &str) -> Value {
    json!([{ "entity": "deal", "operation": "upsert", "key": key, "acting_for": REP,
             "fields": { "name": format!("GTX Pro {key}"), "product": "GTX Pro",
                         "stage": "Engaging" } }])
}

fn stage_of(harness: &Harness, key: &str) -> Option<Value> {
    harness
        .hubspot
        .org
        .records("deals")
        .iter()
        .find(|d| d.properties.get("external_id").and_then(Value::as_str) == Some(key))
        .map(|d| d.properties["dealstage"].clone())
}

#[tokio::test]
async fn a_version_is_approved_by_a_second_person_activated_and_rolled_back() -> anyhow::Result<()>
{
    let harness = Harness::start(&examples_dir()).await?;
    harness.hubspot.org.add_owner(REP, "Anna", "Snelling");
    let engineer = harness
        .create_key("erin (engineer)", "engineer", &[])
        .await?;
    let other_engineer = harness
        .create_key("eve (engineer)", "engineer", &[])
        .await?;
    let cs = harness.create_key("casey (cs)", "cs", &[]).await?;

    // 0.2.0 leaves stages to the value map: a regression to roll back.
    let wasm = with_fixtures(&plugin_wasm("misbehave-plugin")?, &passing_fixtures());
    let upload = harness
        .request_as(
            &engineer,
            Method::PUT,
            "/v1/plugins/globex-deal-stages/0.2.0",
        )
        .body(wasm.clone());
    let (status, uploaded) = call(upload).await?;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["fixtures"]["passed"], 1, "{uploaded}");
    assert!(
        uploaded["uploaded_by"]
            .as_str()
            .is_some_and(|u| u.starts_with("erin"))
    );

    // Not yet approved: it cannot be activated.
    let activate = |key: &str| {
        harness
            .request_as(key, Method::PUT, "/v1/customers/globex/plugin")
            .json(&json!({ "version": "0.2.0" }))
    };
    let (status, refused) = call(activate(&cs)).await?;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_approved"))
    );

    // The uploader may not approve their own upload; another person may.
    let approve = |key: &str| {
        let path = "/v1/plugins/globex-deal-stages/0.2.0/approve";
        harness.request_as(key, Method::POST, path)
    };
    let (status, refused) = call(approve(&engineer)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["code"], "same_person");
    let (status, approved) = call(approve(&other_engineer)).await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert!(
        approved["approved_by"]
            .as_str()
            .is_some_and(|a| a.starts_with("eve"))
    );

    // In force from the next batch, without a restart.
    harness.write("globex", premium_deal("BEFORE")).await?;
    assert_eq!(
        stage_of(&harness, "BEFORE"),
        Some(json!("decisionmakerboughtin"))
    );
    let (status, state) = call(activate(&cs)).await?;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (state["version"].as_str(), state["source"].as_str()),
        (Some("0.2.0"), Some("activation"))
    );
    let answer = harness.write("globex", premium_deal("ACTIVE")).await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    assert_eq!(
        stage_of(&harness, "ACTIVE"),
        Some(json!("presentationscheduled"))
    );
    let audit = harness.request(Method::GET, "/v1/customers/globex/audit?record=ACTIVE");
    let (_, audit) = call(audit).await?;
    assert_eq!(
        audit["entries"][0]["plugin"], "globex-deal-stages@0.2.0",
        "{audit}"
    );

    // One call rolls back to the config's version.
    let rollback = harness.request_as(&cs, Method::POST, "/v1/customers/globex/plugin/rollback");
    let (status, state) = call(rollback).await?;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (state["version"].as_str(), state["source"].as_str()),
        (Some("0.1.0"), Some("config"))
    );
    harness.write("globex", premium_deal("AFTER")).await?;
    assert_eq!(
        stage_of(&harness, "AFTER"),
        Some(json!("decisionmakerboughtin"))
    );
    let again = harness.request_as(&cs, Method::POST, "/v1/customers/globex/plugin/rollback");
    let (status, refused) = call(again).await?;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_roll_back"))
    );

    // Every step, with who took it.
    let (_, audit) =
        call(harness.request(Method::GET, "/v1/audit?plugin=globex-deal-stages")).await?;
    let steps: Vec<(String, String)> = audit["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let actor = e["actor"].as_str().unwrap_or_default();
            let who = actor.split(' ').next().unwrap_or_default().to_owned();
            (e["action"].as_str().unwrap_or_default().to_owned(), who)
        })
        .collect();
    let expected = [
        ("plugin.rollback", "casey"),
        ("plugin.activate", "casey"),
        ("plugin.approve", "eve"),
        ("plugin.upload", "erin"),
        ("plugin.upload", "CONDUIT_API_KEY"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, w)| (a.to_string(), w.to_string()))
        .collect();
    assert_eq!(steps, expected, "{audit}");
    Ok(())
}

#[tokio::test]
async fn versions_are_immutable_listed_and_need_passing_fixtures() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let engineer = harness.create_key("erin", "engineer", &[]).await?;
    let cs = harness.create_key("casey", "cs", &[]).await?;
    let wasm = plugin_wasm("misbehave-plugin")?;
    let put = |version: &str, body: Vec<u8>| {
        let path = format!("/v1/plugins/globex-deal-stages/{version}");
        harness.request_as(&engineer, Method::PUT, &path).body(body)
    };

    // The same bytes again change nothing; other bytes are refused.
    let (status, _) = call(put("0.3.0", wasm.clone())).await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(put("0.3.0", wasm.clone())).await?;
    assert_eq!(status, StatusCode::OK);
    let other = with_fixtures(&wasm, &passing_fixtures());
    let (status, refused) = call(put("0.3.0", other)).await?;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("version_exists"))
    );

    // Without fixture cases a version cannot be approved.
    let approve = harness.request_as(
        &cs,
        Method::POST,
        "/v1/plugins/globex-deal-stages/0.3.0/approve",
    );
    let (status, refused) = call(approve).await?;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("untested"))
    );

    // A failing case refuses the upload, showing what differed.
    let mut failing = passing_fixtures();
    failing["cases"][0]["expect"][0]["fields"]["dealname"] = json!("B");
    let (status, refused) = call(put("0.4.0", with_fixtures(&wasm, &failing))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "fixtures_failed");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("FAIL the draft comes back unchanged"),
        "{detail}"
    );
    assert!(
        detail.contains("-") && detail.contains("\"dealname\": \"B\""),
        "{detail}"
    );

    let (_, listed) =
        call(harness.request_as(&cs, Method::GET, "/v1/plugins/globex-deal-stages")).await?;
    let versions: Vec<&str> = listed["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, ["0.1.0", "0.3.0"], "{listed}");
    Ok(())
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_refused_and_the_host_goes_on() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let oversized = vec![0u8; 32 * 1024 * 1024 + 1];
    let upload = harness
        .request(Method::PUT, "/v1/plugins/globex-deal-stages/9.0.0")
        .body(oversized);
    let (status, refused) = call(upload).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(refused["code"], "body_too_large");
    let (status, _) = call(harness.request(Method::GET, "/v1/plugins")).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

/// Uploads 0.2.0 of globex's plugin with an engineer key through
/// `through`, approves it with the host's key through `approver` and
/// activates it for globex through `through`.
async fn release_0_2_0(through: &Harness, approver: &Harness) -> anyhow::Result<()> {
    let engineer = through.create_key("erin", "engineer", &[]).await?;
    let wasm = with_fixtures(&plugin_wasm("misbehave-plugin")?, &passing_fixtures());
    let path = "/v1/plugins/globex-deal-stages/0.2.0";
    let upload = through.request_as(&engineer, Method::PUT, path).body(wasm);
    assert_eq!(upload.send().await?.status(), StatusCode::CREATED);
    let approve = approver.request(Method::POST, &format!("{path}/approve"));
    assert_eq!(approve.send().await?.status(), StatusCode::OK);
    let activate = through
        .request(Method::PUT, "/v1/customers/globex/plugin")
        .json(&json!({ "version": "0.2.0" }));
    assert_eq!(activate.send().await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_activation_survives_a_restart_of_the_host() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let harness = Harness::start_with_database(&examples_dir(), dir.path()).await?;
    release_0_2_0(&harness, &harness).await?;
    drop(harness);

    let restarted = Harness::start_with_database(&examples_dir(), dir.path()).await?;
    let (_, state) = call(restarted.request(Method::GET, "/v1/customers/globex/plugin")).await?;
    assert_eq!(state["version"], "0.2.0", "{state}");
    let cached = std::fs::read_dir(dir.path().join("plugin-cache"))?.count();
    assert!(
        cached >= 2,
        "compiled plugins are cached by content hash: {cached} files"
    );
    Ok(())
}

#[tokio::test]
async fn a_step_taken_on_one_replica_is_in_force_on_another() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let one = Harness::start_with_database(&examples_dir(), dir.path()).await?;
    let two = Harness::start_with_database(&examples_dir(), dir.path()).await?;
    two.hubspot.org.add_owner(REP, "Anna", "Snelling");

    // Uploaded and activated through one, approved through the other.
    release_0_2_0(&one, &two).await?;

    let waited = std::time::Instant::now();
    loop {
        let (_, state) = call(two.request(Method::GET, "/v1/customers/globex/plugin")).await?;
        if state["version"] == "0.2.0" {
            break;
        }
        let limit = conduit_host::lifecycle::RELOAD_EVERY * 3;
        assert!(
            waited.elapsed() < limit,
            "the other replica still runs {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    two.write("globex", premium_deal("REPLICA")).await?;
    let deals = two.hubspot.org.records("deals");
    let stage = deals
        .iter()
        .find(|d| d.properties.get("external_id").and_then(Value::as_str) == Some("REPLICA"))
        .map(|d| d.properties["dealstage"].clone());
    assert_eq!(stage, Some(json!("presentationscheduled")));
    Ok(())
}
