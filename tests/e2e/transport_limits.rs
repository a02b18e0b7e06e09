//! API limits per customer: a customer whose Salesforce usage reached its
//! ceiling, or whose org answered `REQUEST_LIMIT_EXCEEDED`, has its records
//! deferred (`pending`, with error `crm_limit_reached` and a `retry_at`) in
//! the durable intake, while another customer's writes in the same host go
//! on.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use conduit_crm_sim::salesforce;
use conduit_tests::{Harness, config_with_customers, results};

const CUSTOMERS: [(&str, &str); 3] = [
    (
        "thrifty",
        "customer: thrifty\ncrm: salesforce\nlimits:\n  salesforce_daily_ceiling: 0.5\n",
    ),
    ("roomy", "customer: roomy\ncrm: salesforce\n"),
    ("spent", "customer: spent\ncrm: salesforce\n"),
];

fn companies(prefix: &str, count: usize) -> Value {
    let records: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "entity": "company",
                "operation": "upsert",
                "key": format!("{prefix}{i}"),
                "idempotency_key": format!("{prefix}-key-{i}"),
                "fields": { "name": format!("{prefix}{i}") },
            })
        })
        .collect();
    Value::Array(records)
}

fn names(org: &salesforce::Org, prefix: &str) -> usize {
    org.records("Account")
        .iter()
        .filter(|r| r["Name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .count()
}

/// Every record deferred for the limit, retryable, with a future `retry_at`.
fn assert_limited(answer: &Value, crm_code: &str) {
    let answers = results(answer);
    assert!(!answers.is_empty(), "{answer}");
    for result in answers {
        let error = &result["error"];
        assert_eq!(result["status"], "pending", "{answer}");
        assert_eq!(error["code"], "crm_limit_reached", "{answer}");
        assert_eq!(error["retryable"], true, "{answer}");
        assert_eq!(error["crm"]["code"], crm_code, "{answer}");
        let retry_at = error["retry_at"].as_str().unwrap_or_default();
        let retry_at: DateTime<Utc> = retry_at.parse().unwrap_or_default();
        assert!(retry_at > Utc::now(), "{answer}");
    }
}

#[tokio::test]
async fn a_customer_at_its_ceiling_is_held_while_another_writes() -> anyhow::Result<()> {
    let dir = config_with_customers(&CUSTOMERS)?;
    let harness = Harness::start(dir.path()).await?;
    for customer in ["thrifty", "roomy"] {
        let answer = harness
            .write(customer, companies(&format!("Warm-{customer}"), 1))
            .await?;
        assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    }

    // 60% of the org's allocation is used: over thrifty's 50%, under the
    // default ceiling roomy has. Both write at once.
    harness.salesforce.org.set_api_usage(10_000, Some(6_000));
    let (held, written) = tokio::join!(
        harness.write("thrifty", companies("Thrifty", 3)),
        harness.write("roomy", companies("Roomy", 3)),
    );
    let (held, written) = (held?, written?);

    assert_limited(&held, "api_ceiling_reached");
    assert_eq!(names(&harness.salesforce.org, "Thrifty"), 0, "nothing sent");
    assert!(
        results(&written).iter().all(|r| r["status"] == "created"),
        "{written}"
    );
    assert_eq!(names(&harness.salesforce.org, "Roomy"), 3);

    // Held, the customer makes no call at all until `retry_at`.
    let calls = harness.salesforce.org.request_count();
    let again = harness.write("thrifty", companies("Again", 3)).await?;
    assert_limited(&again, "api_ceiling_reached");
    assert_eq!(harness.salesforce.org.request_count(), calls);
    Ok(())
}

#[tokio::test]
async fn request_limit_exceeded_defers_that_customer_and_no_other() -> anyhow::Result<()> {
    let dir = config_with_customers(&CUSTOMERS)?;
    let harness = Harness::start(dir.path()).await?;

    // `spent` runs on an org of its own.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let own = salesforce::serve(salesforce::Profile::default(), loopback).await?;
    let oauth = own.org.oauth_client();
    let body = json!({
        "base_url": own.base_url,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "refresh_token": oauth.refresh_token,
    });
    harness
        .request(reqwest::Method::PUT, "/v1/customers/spent/connection")
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    for customer in ["spent", "roomy"] {
        let answer = harness
            .write(customer, companies(&format!("Warm-{customer}"), 1))
            .await?;
        assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    }

    // The org's allocation is spent: Salesforce answers 403
    // REQUEST_LIMIT_EXCEEDED to the next call.
    let (_, max) = own.org.api_usage();
    own.org.set_api_usage(max, Some(max));
    let (deferred, written) = tokio::join!(
        harness.write("spent", companies("Spent", 2)),
        harness.write("roomy", companies("Roomy", 2)),
    );
    let (deferred, written) = (deferred?, written?);

    assert_limited(&deferred, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(names(&own.org, "Spent"), 0);
    assert!(
        results(&written).iter().all(|r| r["status"] == "created"),
        "{written}"
    );
    assert_eq!(names(&harness.salesforce.org, "Roomy"), 2);

    // The deferred records wait in the intake under their keys.
    let path = "/v1/customers/spent/writes/Spent-key-0";
    let waiting: Value = harness
        .request(reqwest::Method::GET, path)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(waiting["state"], "pending", "{waiting}");
    assert_eq!(
        waiting["last_error"]["code"], "crm_limit_reached",
        "{waiting}"
    );

    // Until `retry_at`, the customer's calls are held without reaching the
    // org: new records are deferred as well.
    let calls = own.org.request_count();
    let again = harness.write("spent", companies("Again", 2)).await?;
    assert_limited(&again, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(own.org.request_count(), calls, "held until retry_at");
    Ok(())
}

/// The rep new contacts are owned by.
const REP: &str = "rep@pairs.example";

/// `count` new companies, each named by a new contact of the same request.
fn pairs(prefix: &str, count: usize) -> Value {
    let records: Vec<Value> = (0..count)
        .flat_map(|i| {
            let name = format!("{prefix}{i}");
            let email = format!("c{i}@{}.pairs", prefix.to_lowercase());
            [
                json!({ "entity": "company", "operation": "upsert", "key": name,
                    "idempotency_key": format!("{prefix}-co-{i}"), "fields": { "name": name } }),
                json!({ "entity": "contact", "operation": "upsert", "key": email,
                    "idempotency_key": format!("{prefix}-ct-{i}"), "acting_for": REP,
                    "fields": { "email": email, "last_name": "Ng", "company": name } }),
            ]
        })
        .collect();
    Value::Array(records)
}

#[tokio::test]
async fn a_record_naming_a_deferred_record_of_its_request_waits_with_it() -> anyhow::Result<()> {
    let dir = config_with_customers(&CUSTOMERS)?;
    let harness = Harness::start(dir.path()).await?;
    let org = &harness.salesforce.org;
    org.add_user(REP, "Pairs", "Rep");

    // Schema and owner known, 100 companies, each with a contact, go in
    // levels of Collections: companies, then contacts. Count the reads
    // such a request makes.
    let warmup = harness.write("thrifty", pairs("Warm", 1)).await?;
    assert!(
        results(&warmup).iter().all(|r| r["status"] == "created"),
        "{warmup}"
    );
    let since = org.requests().len();
    let answer = harness.write("thrifty", pairs("Counted", 100)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    let reads = |since: usize| {
        let requests = org.requests();
        let reads = requests[since..].iter().filter(|r| r.method == "GET");
        reads.count() as u64
    };
    let read = reads(since);

    // The next request's reads bring thrifty's usage to its ceiling of 50%,
    // so its companies are refused by the host before their call.
    let (_, max) = org.api_usage();
    org.set_api_usage(max, Some(max / 2 - read));
    let since = org.requests().len();
    let held = harness.write("thrifty", pairs("Held", 100)).await?;
    assert_eq!(reads(since), read, "the same reads");
    assert_eq!(org.requests().len() - since, read as usize, "no write sent");

    // The contacts wait for their companies instead of failing for good.
    assert_limited(&held, "api_ceiling_reached");
    let contact = &results(&held)[1]["error"];
    assert_eq!(contact["field"], "AccountId", "{contact}");
    let message = contact["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`Account` record this one names"),
        "{message}"
    );
    Ok(())
}
