//! Schema drift on the simulators: a CRM admin deletes a mapped field and
//! makes another read-only; the next check, scheduled or asked for,
//! reports both before any write fails on them, and the report clears
//! once the field is back or the config stops mapping it.

use std::time::Duration;

use serde_json::{Value, json};

use conduit_host::drift;
use conduit_host::schedule::{Lease, Scheduler};
use conduit_host::store::Claim;
use conduit_tests::{Harness, config_with_customer};

/// A Salesforce customer on the integration's mapping: its deals write
/// `Product__c` (a custom field) and `Amount`.
const INITECH: &str = "customer: initech\ncrm: salesforce\n";

/// Deletes `Opportunity.Product__c` and takes write access to `Amount`
/// from the integration user, as an admin would in Setup.
async fn change_the_org(harness: &Harness) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = &harness.salesforce.base_url;
    http.delete(format!("{base}/__sim/fields/Opportunity/Product__c"))
        .send()
        .await?
        .error_for_status()?;
    let rules = json!([{
        "user": "integration@conduit.example",
        "object": "Opportunity",
        "read_only": ["Amount"],
    }]);
    http.put(format!("{base}/__sim/field-security"))
        .json(&rules)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Undoes [`change_the_org`].
async fn restore_the_org(harness: &Harness) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = &harness.salesforce.base_url;
    http.post(format!(
        "{base}/__sim/fields/Opportunity/Product__c/undelete"
    ))
    .send()
    .await?
    .error_for_status()?;
    http.put(format!("{base}/__sim/field-security"))
        .json(&json!([]))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn get(harness: &Harness, path: &str) -> anyhow::Result<Value> {
    let response = harness.request(reqwest::Method::GET, path).send().await?;
    Ok(response.error_for_status()?.json().await?)
}

async fn refresh(harness: &Harness) -> anyhow::Result<Value> {
    let path = "/v1/customers/initech/schema/refresh";
    let response = harness.request(reqwest::Method::POST, path).send().await?;
    Ok(response.error_for_status()?.json().await?)
}

/// The findings as `(agent field, CRM field, kind)`, sorted.
fn findings(report: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut found: Vec<_> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (text(&f["agent_field"]), text(&f["field"]), text(&f["kind"])))
        .collect();
    found.sort();
    found
}

fn the_two_changes() -> Vec<(String, String, String)> {
    let finding = |a: &str, f: &str, k: &str| (a.to_owned(), f.to_owned(), k.to_owned());
    vec![
        finding("amount", "Amount", "field_read_only"),
        finding("product", "Product__c", "field_missing"),
    ]
}

/// Polls `path` until `done` holds, for at most ten seconds.
async fn get_until(
    harness: &Harness,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = get(harness, path).await?;
        if done(&last) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path} never got there; last: {last}")
}

/// Polls the drift report until `done` holds.
async fn drift_until(harness: &Harness, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    get_until(harness, "/v1/customers/initech/schema/drift", done).await
}

/// Writes the simulator answered for `Opportunity` (creates and updates).
fn opportunity_writes(harness: &Harness) -> usize {
    let requests = harness.salesforce.org.requests();
    let writes = requests
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("Opportunity"));
    writes.count()
}

#[tokio::test]
async fn the_scheduled_check_reports_a_deleted_and_a_read_only_field_then_clears()
-> anyhow::Result<()> {
    let dir = config_with_customer("initech", INITECH)?;
    let harness = Harness::start(dir.path()).await?;
    let mut scheduler =
        Scheduler::new(harness.pipeline.store().clone()).with_tick(Duration::from_millis(20));
    drift::register(
        &mut scheduler,
        harness.pipeline.clone(),
        Duration::from_millis(200),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pipeline = harness.pipeline.clone();
    let running = tokio::spawn(
        scheduler.run(move || pipeline.scheduled_customers(), async {
            let _ = stopped.await;
        }),
    );

    // The first check finds the config fitting the org.
    let report = drift_until(&harness, |r| r["checked_at"].is_string()).await?;
    assert_eq!(findings(&report), vec![], "{report}");

    change_the_org(&harness).await?;
    let report = drift_until(&harness, |r| !findings(r).is_empty()).await?;
    assert_eq!(findings(&report), the_two_changes(), "{report}");
    for finding in report["findings"].as_array().into_iter().flatten() {
        assert_eq!(finding["object"], "Opportunity", "{finding}");
        assert_eq!(finding["entity"], "deal", "{finding}");
        assert!(finding["since"].is_string(), "{finding}");
    }
    assert_eq!(opportunity_writes(&harness), 0, "reported before any write");

    // The schedule shows the runs to operators. A run stores its report
    // before it records its end, so the second run may still be ending.
    let path = "/v1/customers/initech/schedule";
    let schedule = get_until(&harness, path, |s| {
        s["tasks"][0]["runs"].as_i64() >= Some(2)
    })
    .await?;
    let task = &schedule["tasks"][0];
    assert_eq!(task["task"], "schema_check", "{schedule}");
    assert_eq!(task["last_outcome"], "ok", "{schedule}");

    // Writes now plan against the changed schema: the deal is refused by
    // the host, naming the field, instead of by the CRM.
    let deal = json!([{
        "entity": "deal", "operation": "upsert", "key": "D-1",
        "fields": {"name": "Drift", "stage": "Prospecting", "close_date": "2027-01-31",
                   "product": "GTX Pro"},
    }]);
    let answer = harness.write("initech", deal).await?;
    let results = &answer["results"];
    assert_eq!(results[0]["status"], "failed", "{results}");
    assert!(results[0]["error"]["crm"].is_null(), "{results}");
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Product__c")
    );
    assert_eq!(opportunity_writes(&harness), 0);

    restore_the_org(&harness).await?;
    let report = drift_until(&harness, |r| findings(r).is_empty()).await?;
    assert!(report["checked_at"].is_string(), "{report}");

    let _ = stop.send(());
    running.await?;
    Ok(())
}

#[tokio::test]
async fn an_on_demand_check_reports_at_once_and_keeps_when_it_was_first_seen() -> anyhow::Result<()>
{
    let dir = config_with_customer("initech", INITECH)?;
    let harness = Harness::start(dir.path()).await?;
    let before = refresh(&harness).await?;
    assert_eq!(findings(&before["drift"]), vec![], "{before}");

    change_the_org(&harness).await?;
    let first = refresh(&harness).await?;
    assert_eq!(findings(&first["drift"]), the_two_changes(), "{first}");
    let second = refresh(&harness).await?;
    let since = |answer: &Value| answer["drift"]["findings"][0]["since"].clone();
    assert_eq!(
        since(&second),
        since(&first),
        "a finding keeps its first sighting"
    );
    let report = get(&harness, "/v1/customers/initech/schema/drift").await?;
    assert_eq!(report, second["drift"]);
    let dashboard = get(&harness, "/v1/customers/initech/dashboard").await?;
    assert_eq!(
        dashboard["drift"], report,
        "the dashboard shows the same findings"
    );

    restore_the_org(&harness).await?;
    let fixed = refresh(&harness).await?;
    assert_eq!(findings(&fixed["drift"]), vec![], "{fixed}");
    Ok(())
}

#[tokio::test]
async fn the_report_clears_when_the_config_stops_mapping_the_field() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let dir = config_with_customer("initech", INITECH)?;
    let harness = Harness::start_with_database(dir.path(), state.path()).await?;
    change_the_org(&harness).await?;
    let drifted = refresh(&harness).await?;
    assert_eq!(findings(&drifted["drift"]), the_two_changes(), "{drifted}");
    drop(harness);

    // The vendor drops both fields from the customer's mapping; the host
    // restarts on the same database against the same changed org.
    let unmapped = "entities:\n  deal:\n    unmapped: [product, amount]\n";
    let dir = config_with_customer("initech", &format!("{INITECH}{unmapped}"))?;
    let harness = Harness::start_with_database(dir.path(), state.path()).await?;
    change_the_org(&harness).await?;
    let report = get(&harness, "/v1/customers/initech/schema/drift").await?;
    assert_eq!(
        findings(&report),
        the_two_changes(),
        "kept across the restart"
    );
    let fixed = refresh(&harness).await?;
    assert_eq!(findings(&fixed["drift"]), vec![], "{fixed}");
    Ok(())
}

#[tokio::test]
async fn drift_is_for_staff_and_the_schedule_for_engineers() -> anyhow::Result<()> {
    let dir = config_with_customer("initech", INITECH)?;
    let harness = Harness::start(dir.path()).await?;
    let agent = harness
        .create_key("the agent", "agent", &["initech"])
        .await?;
    let cs = harness.create_key("customer success", "cs", &[]).await?;
    for (key, path, status) in [
        (&agent, "/v1/customers/initech/schema/drift", 403),
        (&cs, "/v1/customers/initech/schema/drift", 200),
        (&cs, "/v1/customers/initech/schedule", 403),
    ] {
        let response = harness
            .request_as(key, reqwest::Method::GET, path)
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn an_on_demand_check_waits_for_none_while_another_runs() -> anyhow::Result<()> {
    let dir = config_with_customer("initech", INITECH)?;
    let harness = Harness::start(dir.path()).await?;

    // Another replica's scheduled check holds the lease.
    let store = harness.pipeline.store();
    let ttl = Duration::from_secs(60);
    let held = Lease::claim(store, drift::TASK, "initech", "replica-2", ttl, Claim::Now).await?;
    assert!(held.is_some());

    let path = "/v1/customers/initech/schema/refresh";
    let response = harness.request(reqwest::Method::POST, path).send().await?;
    assert_eq!(response.status().as_u16(), 409);
    let problem: Value = response.json().await?;
    assert_eq!(problem["code"], "check_running", "{problem}");
    assert_eq!(problem["retryable"], true, "{problem}");
    let schedule = get(&harness, "/v1/customers/initech/schedule").await?;
    assert_eq!(
        schedule["tasks"][0]["running_on"], "replica-2",
        "{schedule}"
    );
    Ok(())
}
