//! Durable intake over HTTP: jobs with progress and paged results, the
//! outcome of a write asked for by its key, and a record deferred until the
//! CRM takes the customer's writes again while other customers go on.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_crm_sim::Faults;
use conduit_host::store::{Intake, NewIntent, Settled, Settlement};
use conduit_tests::{Harness, examples_dir, results};

const REP: &str = "anna.snelling@northwind.example";

fn contact(n: usize, prefix: &str) -> Value {
    let email = format!("{prefix}{n}@initrode.example");
    json!({
        "entity": "contact", "operation": "upsert", "key": email, "acting_for": REP,
        "idempotency_key": format!("{prefix}-{n}"),
        "fields": { "email": email, "first_name": "Bob", "last_name": format!("Number {n}") },
    })
}

async fn harness() -> anyhow::Result<Harness> {
    let harness = Harness::start(&examples_dir()).await?;
    harness.salesforce.org.add_user(REP, "Anna", "Snelling");
    Ok(harness)
}

async fn get(harness: &Harness, path: &str) -> anyhow::Result<(StatusCode, Value)> {
    let response = harness.request(Method::GET, path).send().await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

/// Submits a job and answers its id.
async fn submit(harness: &Harness, customer: &str, body: Value) -> anyhow::Result<String> {
    let path = format!("/v1/customers/{customer}/jobs");
    let response = harness
        .request(Method::POST, &path)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer: Value = response.json().await?;
    ensure!(
        status == StatusCode::ACCEPTED,
        "job answered {status}: {answer}"
    );
    let id = answer["id"].as_str().context("no job id")?.to_owned();
    ensure!(
        location.as_deref() == Some(format!("{path}/{id}").as_str()),
        "Location {location:?} does not name job {id}"
    );
    Ok(id)
}

/// Polls job `id` until it is done.
async fn finished(harness: &Harness, customer: &str, id: &str) -> anyhow::Result<Value> {
    let path = format!("/v1/customers/{customer}/jobs/{id}");
    for _ in 0..600 {
        let (status, job) = get(harness, &path).await?;
        ensure!(status == StatusCode::OK, "{status}: {job}");
        if job["state"] == "done" {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("job {id} did not finish")
}

/// Every result of job `id`, read a page of `limit` at a time.
async fn all_results(
    harness: &Harness,
    customer: &str,
    id: &str,
    limit: usize,
) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let mut path = format!("/v1/customers/{customer}/jobs/{id}/results?limit={limit}");
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        let (status, page) = get(harness, &path).await?;
        ensure!(status == StatusCode::OK, "{status}: {page}");
        let results = page["results"].as_array().context("no results")?;
        ensure!(results.len() <= limit, "a page longer than its limit");
        all.extend(results.iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

#[tokio::test]
async fn a_job_runs_in_the_background_with_progress_and_paged_results() -> anyhow::Result<()> {
    let harness = harness().await?;
    // Slow enough that the job is seen before it is done.
    harness.salesforce.org.set_faults(Faults {
        latency_ms: 100,
        ..Faults::default()
    });
    let mut records: Vec<Value> = (0..240).map(|n| contact(n, "job")).collect();
    records.insert(7, json!("not a record"));
    records.push(contact(3, "job"));
    let id = submit(&harness, "northwind", json!({ "records": records })).await?;

    let (_, early) = get(&harness, &format!("/v1/customers/northwind/jobs/{id}")).await?;
    assert_eq!(early["counts"]["total"], 242, "{early}");
    assert_ne!(early["state"], "done", "{early}");
    assert!(early["counts"]["pending"].as_i64() > Some(0), "{early}");

    let job = finished(&harness, "northwind", &id).await?;
    assert_eq!(
        job["counts"],
        json!({ "total": 242, "done": 240, "failed": 2, "pending": 0 })
    );
    assert_eq!(job["progress"], 1.0);

    let listed = all_results(&harness, "northwind", &id, 100).await?;
    let indexes: Vec<i64> = listed.iter().filter_map(|r| r["index"].as_i64()).collect();
    assert_eq!(
        indexes,
        (0..242).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert_eq!(
        listed[7]["error"]["code"], "invalid_record",
        "{}",
        listed[7]
    );
    assert_eq!(listed[241]["error"]["code"], "duplicate_idempotency_key");
    assert_eq!(listed[8]["status"], "created", "{}", listed[8]);
    assert_eq!(listed[8]["idempotency_key"], "job-7");
    assert_eq!(harness.salesforce.org.records("Contact").len(), 240);

    // The same records again: each follows its first outcome, nothing is
    // written twice.
    let again: Vec<Value> = (0..5).map(|n| contact(n, "job")).collect();
    let id = submit(&harness, "northwind", json!({ "records": again })).await?;
    let job = finished(&harness, "northwind", &id).await?;
    assert_eq!(job["counts"]["done"], 5, "{job}");
    let replayed = all_results(&harness, "northwind", &id, 2).await?;
    assert_eq!(replayed.len(), 5);
    for (n, result) in replayed.iter().enumerate() {
        assert_eq!(result["index"], n, "{result}");
        assert_eq!(result["replayed"], true, "{result}");
        assert_eq!(result["status"], "created", "{result}");
    }
    assert_eq!(harness.salesforce.org.records("Contact").len(), 240);
    Ok(())
}

#[tokio::test]
async fn the_outcome_of_a_write_is_found_by_its_key() -> anyhow::Result<()> {
    let harness = harness().await?;
    let answer = harness
        .write("northwind", json!([contact(1, "sync")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");

    let (status, outcome) = get(&harness, "/v1/customers/northwind/writes/sync-1").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome["state"], "done", "{outcome}");
    assert_eq!(outcome["result"]["status"], "created");
    assert_eq!(outcome["result"]["crm_id"], results(&answer)[0]["crm_id"]);

    let (status, missing) = get(&harness, "/v1/customers/northwind/writes/never-sent").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "unknown_idempotency_key");
    assert!(
        missing["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`never-sent`")),
        "{missing}"
    );

    // A key is the customer's own: another customer's agent sees nothing.
    let agent = harness
        .create_key("globex agent", "agent", &["globex"])
        .await?;
    let foreign = harness
        .request_as(&agent, Method::GET, "/v1/customers/northwind/writes/sync-1")
        .send()
        .await?;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let (status, _) = get(&harness, "/v1/customers/globex/writes/sync-1").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_large_write_is_sent_to_jobs_and_a_job_takes_no_dry_run() -> anyhow::Result<()> {
    let harness = harness().await?;
    let records: Vec<Value> = (0..1001).map(|n| contact(n, "big")).collect();
    let path = "/v1/customers/northwind/writes";
    let body = json!({ "records": records });
    let response = harness
        .request(Method::POST, path)
        .json(&body)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = response.json().await?;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/jobs")),
        "{problem}"
    );

    let body = json!({ "records": [contact(1, "dry")], "dry_run": true });
    let response = harness
        .request(Method::POST, "/v1/customers/northwind/jobs")
        .json(&body)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await?;
    assert_eq!(problem["field"], "dry_run", "{problem}");

    let (status, missing) = get(&harness, "/v1/customers/northwind/jobs/nope").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "unknown_job");
    Ok(())
}

/// The stored form of an intent, as the pipeline keeps it.
fn stored(record: &Value) -> String {
    json!({ "intent": record }).to_string()
}

#[tokio::test]
async fn a_deferred_record_waits_for_its_time_while_other_customers_go_on() -> anyhow::Result<()> {
    let harness = harness().await?;
    let store = harness.pipeline.store();

    // A record held by a replica that met the CRM's limit and deferred it
    // (the seam the transport's `crm_limit_reached` plugs into).
    let record = contact(1, "limited");
    let intent = NewIntent {
        key: "limited-1".into(),
        fingerprint: "held".into(),
        intent: stored(&record),
        ordinal: 0,
        run_order: 0,
    };
    let held = Intake {
        claimed_by: Some("a replica at its limit".into()),
        lease_until: Some(conduit_host::store::timestamp(
            chrono::Utc::now() + chrono::Duration::seconds(60),
        )),
        ..Intake::default()
    };
    store.claim_keys("northwind", &held, &[intent]).await?;
    let retry_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let error = json!({ "code": "crm_limit_reached", "retryable": true,
                        "message": "the org's daily API requests are spent",
                        "retry_at": retry_at.to_rfc3339() });
    let deferred = Settled {
        customer: "northwind".into(),
        key: "limited-1".into(),
        outcome: Settlement::Deferred {
            not_before: conduit_host::store::timestamp(retry_at),
            error: error.clone(),
        },
    };
    store.record_batch(&[], &[deferred]).await?;

    // Meanwhile another customer's writes are not held up.
    let globex = json!([{ "entity": "company", "operation": "upsert", "key": "Initech",
                          "fields": { "name": "Initech" } }]);
    let answer = harness.write("globex", globex).await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    let (_, waiting) = get(&harness, "/v1/customers/northwind/writes/limited-1").await?;
    assert_eq!(waiting["state"], "pending", "{waiting}");
    assert_eq!(waiting["last_error"], error);
    assert_eq!(harness.salesforce.org.records("Contact").len(), 0);

    // Once its time has come, the worker runs it.
    let mut outcome = waiting;
    for _ in 0..100 {
        if outcome["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        outcome = get(&harness, "/v1/customers/northwind/writes/limited-1")
            .await?
            .1;
    }
    assert_eq!(outcome["state"], "done", "{outcome}");
    assert_eq!(outcome["result"]["status"], "created", "{outcome}");
    assert_eq!(outcome["attempts"], 1, "claimed once by the worker");
    assert_eq!(harness.salesforce.org.records("Contact").len(), 1);
    Ok(())
}

#[tokio::test]
async fn one_customers_backlog_does_not_hold_up_another_customers_job() -> anyhow::Result<()> {
    let harness = harness().await?;
    harness.salesforce.org.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let backlog: Vec<Value> = (0..1000).map(|n| contact(n, "backlog")).collect();
    let northwind = submit(&harness, "northwind", json!({ "records": backlog })).await?;

    let companies: Vec<Value> = (0..3)
        .map(|n| {
            let name = format!("Globex client {n}");
            json!({ "entity": "company", "operation": "upsert", "key": name,
                    "fields": { "name": name } })
        })
        .collect();
    let globex = submit(&harness, "globex", json!({ "records": companies })).await?;
    let done = finished(&harness, "globex", &globex).await?;
    assert_eq!(done["counts"]["done"], 3, "{done}");

    let (_, behind) = get(
        &harness,
        &format!("/v1/customers/northwind/jobs/{northwind}"),
    )
    .await?;
    assert!(
        behind["counts"]["pending"].as_i64() > Some(0),
        "the backlog was still running: {behind}"
    );
    Ok(())
}

#[tokio::test]
async fn a_job_runs_the_companies_its_contacts_name_first() -> anyhow::Result<()> {
    let harness = harness().await?;

    // 450 contacts first, then the three companies they name: more than
    // one claimed batch apart in the agent's order.
    let mut records: Vec<Value> = (0..450)
        .map(|n| {
            let mut record = contact(n, "ranked");
            record["fields"]["company"] = json!(format!("Ranked Co {}", n % 3));
            record
        })
        .collect();
    records.extend((0..3).map(|n| {
        let name = format!("Ranked Co {n}");
        json!({ "entity": "company", "operation": "upsert", "key": name,
            "idempotency_key": format!("ranked-co-{n}"), "fields": { "name": name } })
    }));
    let id = submit(&harness, "northwind", json!({ "records": records })).await?;
    finished(&harness, "northwind", &id).await?;

    // Every record is written, and the answers keep the agent's order.
    let answers = all_results(&harness, "northwind", &id, 500).await?;
    assert_eq!(answers.len(), 453);
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer["status"], "created", "{answer}");
        assert_eq!(answer["index"], n, "{answer}");
    }
    let accounts = harness.salesforce.org.records("Account");
    let contacts = harness.salesforce.org.records("Contact");
    let linked = contacts
        .iter()
        .filter(|c| accounts.iter().any(|a| a["Id"] == c["AccountId"]))
        .count();
    assert_eq!((accounts.len(), linked), (3, 450));
    Ok(())
}
