//! The plugin author's loop, as `conduit plugin new | build | test | push`
//! runs it: a crate from the template, its fixture cases run in the host's
//! runtime (a broken case shows what differed), the upload, a second
//! person's approval, the activation, and the plugin answering a write on
//! the simulated HubSpot.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_host::author;
use conduit_tests::{Harness, config_with_customer, results, workspace_root};

const REP: &str = "dana.reyes@acme.example";

fn deal(key: &str, amount: u32) -> Value {
    json!({ "entity": "deal", "operation": "upsert", "key": key, "acting_for": REP,
            "fields": { "name": format!("Deal {key}"), "stage": "Engaging", "amount": amount } })
}

#[tokio::test]
async fn a_new_plugin_goes_from_template_to_answering_a_write() -> anyhow::Result<()> {
    // 1. `conduit plugin new acme-stages`, `build` and `test`.
    let workdir = tempfile::tempdir()?;
    let root = author::new_crate(workdir.path(), "acme-stages", &author::default_sdk())?;
    let target = workspace_root().join("target").join("wasm");
    let built = author::build(&root, &target)?;
    assert_eq!(
        (built.name.as_str(), built.version.as_str()),
        ("acme-stages", "0.1.0")
    );
    let report = author::test(&built)?;
    assert!(report.all_passed(), "{}", report.render());
    assert_eq!(report.passed, 2);

    // A case that no longer holds fails with a readable diff.
    let fixtures_path = root.join(author::FIXTURES_FILE);
    let good = std::fs::read_to_string(&fixtures_path)?;
    std::fs::write(
        &fixtures_path,
        good.replace("\"expect\": null", "\"expect\": \"closedlost\""),
    )?;
    let report = author::test(&author::build(&root, &target)?)?;
    let rendered = report.render();
    assert_eq!(report.failed, 1, "{rendered}");
    assert!(
        rendered.contains("FAIL a small engaging deal is left to the mapping"),
        "{rendered}"
    );
    assert!(
        rendered.contains("-  \"answer\": \"closedlost\""),
        "{rendered}"
    );
    assert!(rendered.contains("+  \"answer\": null"), "{rendered}");
    std::fs::write(&fixtures_path, good)?;
    let built = author::build(&root, &target)?;

    // 2. A host whose customer names the plugin at a version never uploaded.
    let config = config_with_customer(
        "acme",
        "customer: acme\ncrm: hubspot\n\
         entities:\n  deal:\n    fields:\n      stage: { plugin: true }\n\
         plugin:\n  name: acme-stages\n  version: 0.0.1\n",
    )?;
    let harness = Harness::start_without_plugins(config.path()).await?;
    harness.hubspot.org.add_owner(REP, "Dana", "Reyes");
    let answer = harness
        .write("acme", json!([deal("EARLY", 25_000)]))
        .await?;
    assert_eq!(
        results(&answer)[0]["error"]["code"],
        "plugin_missing",
        "{answer}"
    );

    // 3. `conduit plugin push`, approval by CS, activation.
    let engineer = harness.create_key("erin", "engineer", &[]).await?;
    let cs = harness.create_key("casey", "cs", &[]).await?;
    let pushed = author::push(&built, &harness.base, Some(&engineer)).await?;
    assert_eq!(pushed["fixtures"]["passed"], 2, "{pushed}");
    let approve = harness.request_as(&cs, Method::POST, "/v1/plugins/acme-stages/0.1.0/approve");
    assert_eq!(approve.send().await?.status(), StatusCode::OK);
    let activate = harness
        .request_as(&cs, Method::PUT, "/v1/customers/acme/plugin")
        .json(&json!({ "version": "0.1.0" }));
    assert_eq!(activate.send().await?.status(), StatusCode::OK);

    // 4. The plugin answers the next write.
    let answer = harness
        .write("acme", json!([deal("BIG", 25_000), deal("SMALL", 900)]))
        .await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    let deals = harness.hubspot.org.records("deals");
    let stage = |key: &str| {
        deals
            .iter()
            .find(|d| d.properties.get("external_id").and_then(Value::as_str) == Some(key))
            .map(|d| d.properties["dealstage"].clone())
    };
    assert_eq!(stage("BIG"), Some(json!("decisionmakerboughtin")));
    assert_eq!(stage("SMALL"), Some(json!("presentationscheduled")));
    Ok(())
}
