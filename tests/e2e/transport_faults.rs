//! Faults on the wire: rate-limit storms, server errors, a connection
//! dropped after the CRM committed, and a token expiring mid-batch. After
//! each, every record has exactly one outcome and the simulated CRM holds
//! each record once.

use std::time::{Duration, Instant};

use conduit_crm_sim::Faults;
use serde_json::{Value, json};

use conduit_tests::{Harness, config_with_customers, results};

/// A Salesforce customer whose companies are keyed in the CRM, one whose
/// are not, and the same pair on HubSpot.
const CUSTOMERS: [(&str, &str); 4] = [
    (
        "keyed",
        "customer: keyed\ncrm: salesforce\nentities:\n  company:\n    crm_key: Conduit_Key__c\n",
    ),
    ("plain", "customer: plain\ncrm: salesforce\n"),
    (
        "hskeyed",
        "customer: hskeyed\ncrm: hubspot\nentities:\n  company:\n    crm_key: conduit_key\n",
    ),
    ("hsplain", "customer: hsplain\ncrm: hubspot\n"),
];

/// Creates of companies named `{prefix}{i}`, each with its own key.
fn companies(prefix: &str, count: usize) -> Value {
    let records: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "entity": "company",
                "operation": "create",
                "idempotency_key": format!("{prefix}-key-{i}"),
                "fields": { "name": format!("{prefix}{i}") },
            })
        })
        .collect();
    Value::Array(records)
}

async fn start() -> anyhow::Result<(Harness, tempfile::TempDir)> {
    let dir = config_with_customers(&CUSTOMERS)?;
    let harness = Harness::start(dir.path()).await?;
    // Each customer's schema is discovered before any fault is set.
    for customer in ["keyed", "plain", "hskeyed", "hsplain"] {
        let answer = harness.write(customer, companies("Warmup", 1)).await?;
        assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    }
    Ok((harness, dir))
}

/// How many Salesforce accounts, by name, start with `prefix`.
fn accounts(harness: &Harness, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = harness
        .salesforce
        .org
        .records("Account")
        .iter()
        .filter_map(|r| r.get("Name")?.as_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

fn companies_named(harness: &Harness, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = harness
        .hubspot
        .org
        .records("companies")
        .iter()
        .filter_map(|r| r.properties.get("name")?.as_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

fn each_once(prefix: &str, count: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_429_storm_is_waited_out_as_retry_after_asks_and_each_record_lands_once()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    harness.hubspot.org.set_faults(Faults {
        throttle_next: 3,
        retry_after_seconds: Some(1),
        ..Faults::default()
    });

    let started = Instant::now();
    let answer = harness.write("hsplain", companies("Storm", 5)).await?;
    let elapsed = started.elapsed();

    let answers = results(&answer);
    assert_eq!(answers.len(), 5, "{answer}");
    assert!(answers.iter().all(|r| r["status"] == "created"), "{answer}");
    assert_eq!(companies_named(&harness, "Storm"), each_once("Storm", 5));
    // Three refusals, each asking for a second: the host waited at least
    // that long between its sends, never less.
    assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
    let refused = harness
        .hubspot
        .org
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(refused, 3);
    assert_eq!(harness.hubspot.org.faults().throttle_next, 0);
    Ok(())
}

#[tokio::test]
async fn salesforce_concurrent_limit_refusals_are_sent_again_until_they_pass() -> anyhow::Result<()>
{
    let (harness, _dir) = start().await?;
    harness.salesforce.org.set_faults(Faults {
        throttle_next: 2,
        ..Faults::default()
    });

    let answer = harness.write("plain", companies("Busy", 4)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    assert_eq!(accounts(&harness, "Busy"), each_once("Busy", 4));
    Ok(())
}

#[tokio::test]
async fn server_errors_resend_keyed_creates_and_never_double_a_record() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;

    // Keyed: an upsert on the key cannot write twice, so it is sent again.
    harness.salesforce.org.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    let answer = harness.write("keyed", companies("Keyed", 3)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    assert_eq!(accounts(&harness, "Keyed"), each_once("Keyed", 3));
    let keys: Vec<Value> = harness
        .salesforce
        .org
        .records("Account")
        .iter()
        .filter(|r| r["Name"].as_str().is_some_and(|n| n.starts_with("Keyed")))
        .map(|r| r["Conduit_Key__c"].clone())
        .collect();
    assert!(
        keys.iter()
            .all(|k| k.as_str().is_some_and(|k| k.starts_with("Keyed-key-"))),
        "each create carries its idempotency key: {keys:?}"
    );

    // Not keyed: a plain create that met a server error is not sent again;
    // the record fails retryable, and the agent's retry makes it once.
    harness.salesforce.org.set_faults(Faults {
        fail_next: 1,
        ..Faults::default()
    });
    let answer = harness.write("plain", companies("Plain", 3)).await?;
    for result in results(&answer) {
        assert_eq!(result["status"], "failed", "{answer}");
        assert_eq!(result["error"]["code"], "crm_unavailable", "{answer}");
        assert_eq!(result["error"]["retryable"], true, "{answer}");
    }
    assert!(accounts(&harness, "Plain").is_empty());
    let answer = harness.write("plain", companies("Plain", 3)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    assert_eq!(accounts(&harness, "Plain"), each_once("Plain", 3));

    // A gateway's 504 says the CRM's answer never came, not that nothing
    // was written: the create may exist, and its key keeps that outcome.
    harness.salesforce.org.set_faults(Faults {
        fail_next: 1,
        error_status: Some(504),
        ..Faults::default()
    });
    let answer = harness.write("plain", companies("Gateway", 2)).await?;
    for result in results(&answer) {
        assert_eq!(result["error"]["code"], "crm_outcome_unknown", "{answer}");
        assert_eq!(result["error"]["retryable"], false, "{answer}");
    }
    let again = harness.write("plain", companies("Gateway", 2)).await?;
    assert!(
        results(&again).iter().all(|r| r["replayed"] == true),
        "{again}"
    );

    // HubSpot: the keyed batch upsert is sent again too.
    harness.hubspot.org.set_faults(Faults {
        fail_next: 2,
        error_status: Some(502),
        ..Faults::default()
    });
    let answer = harness.write("hskeyed", companies("HsKeyed", 3)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    assert_eq!(
        companies_named(&harness, "HsKeyed"),
        each_once("HsKeyed", 3)
    );
    Ok(())
}

#[tokio::test]
async fn a_create_committed_before_its_connection_dropped_is_found_by_its_crm_key()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;

    for (customer, prefix) in [("keyed", "Dropped"), ("hskeyed", "HsDropped")] {
        let sim_faults = Faults {
            drop_next: 1,
            ..Faults::default()
        };
        match customer {
            "keyed" => harness.salesforce.org.set_faults(sim_faults),
            _ => harness.hubspot.org.set_faults(sim_faults),
        }
        let answer = harness.write(customer, companies(prefix, 3)).await?;
        let answers = results(&answer);
        assert!(answers.iter().all(|r| r["status"] == "created"), "{answer}");

        // The resent upsert found the records the lost answer had made.
        let names = match customer {
            "keyed" => accounts(&harness, prefix),
            _ => companies_named(&harness, prefix),
        };
        assert_eq!(names, each_once(prefix, 3), "{customer}");
        assert!(answers.iter().all(|r| r["crm_id"].is_string()), "{answer}");
    }

    // The same answer lost without a crm key: nothing is sent again, the
    // record says the CRM may hold it, and its key keeps that outcome so a
    // retry cannot make it twice.
    harness.salesforce.org.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let answer = harness.write("plain", companies("Lost", 2)).await?;
    for result in results(&answer) {
        assert_eq!(result["error"]["code"], "crm_outcome_unknown", "{answer}");
        assert_eq!(result["error"]["retryable"], false, "{answer}");
    }
    assert_eq!(accounts(&harness, "Lost"), each_once("Lost", 2));
    let again = harness.write("plain", companies("Lost", 2)).await?;
    for result in results(&again) {
        assert_eq!(result["replayed"], true, "{again}");
    }
    assert_eq!(accounts(&harness, "Lost"), each_once("Lost", 2));
    Ok(())
}

#[tokio::test]
async fn a_token_expiring_mid_batch_is_refreshed_once_and_the_batch_completes() -> anyhow::Result<()>
{
    let (harness, _dir) = start().await?;
    // 450 records are three Collections calls; each takes a while, so the
    // token can expire between them.
    harness.salesforce.org.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let before = harness.salesforce.org.requests().len();

    let write = harness.write("plain", companies("Expiring", 450));
    let expire = async {
        while harness.salesforce.org.requests().len() == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        harness.salesforce.org.expire_sessions();
    };
    let (answer, ()) = tokio::join!(write, expire);
    let answer = answer?;

    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{}",
        &answer.to_string()[..500.min(answer.to_string().len())]
    );
    assert_eq!(accounts(&harness, "Expiring"), each_once("Expiring", 450));
    let requests = harness.salesforce.org.requests();
    let after: Vec<_> = requests[before..].iter().collect();
    let refreshes = after
        .iter()
        .filter(|r| r.path.starts_with("/services/oauth2/token"))
        .count();
    let refused = after.iter().filter(|r| r.status == 401).count();
    assert_eq!(refused, 1, "{after:?}");
    assert_eq!(refreshes, 1, "{after:?}");
    Ok(())
}

#[tokio::test]
async fn a_keyed_create_whose_every_answer_was_lost_is_unknown_unless_its_key_finds_it()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let create = |name: &str, idempotency_key: Option<&str>| {
        let mut record = json!({ "entity": "company", "operation": "create",
            "fields": { "name": name } });
        if let Some(key) = idempotency_key {
            record["idempotency_key"] = json!(key);
        }
        json!([record])
    };
    // Every send commits and loses its answer, resends included.
    let lose_every_answer = || {
        harness.salesforce.org.set_faults(Faults {
            drop_next: 100,
            ..Faults::default()
        })
    };

    // Without an idempotency key, the upsert's key was a fresh one nobody
    // else knows: the agent's retry could not find the record.
    lose_every_answer();
    let answer = harness.write("keyed", create("Unkeyed", None)).await?;
    let error = &results(&answer)[0]["error"];
    assert_eq!(error["code"], "crm_outcome_unknown", "{answer}");
    assert_eq!(error["retryable"], false, "{answer}");

    // With one, the retry upserts on it and finds the record.
    lose_every_answer();
    let answer = harness.write("keyed", create("Keyed", Some("k-1"))).await?;
    let error = &results(&answer)[0]["error"];
    assert_eq!(error["code"], "crm_unavailable", "{answer}");
    assert_eq!(error["retryable"], true, "{answer}");
    harness.salesforce.org.set_faults(Faults::default());
    let again = harness.write("keyed", create("Keyed", Some("k-1"))).await?;
    assert!(results(&again)[0]["crm_id"].is_string(), "{again}");

    assert_eq!(accounts(&harness, "Unkeyed"), ["Unkeyed"]);
    assert_eq!(accounts(&harness, "Keyed"), ["Keyed"]);
    Ok(())
}

#[tokio::test]
async fn keyed_creates_whose_keys_differ_only_in_case_stay_two_records() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let create = |name: &str, key: &str| {
        json!({ "entity": "company", "operation": "create", "idempotency_key": key,
            "fields": { "name": name } })
    };
    let batch = json!([create("Cased A", "CaseKey"), create("Cased B", "casekey")]);
    let answer = harness.write("keyed", batch).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(answers[1]["error"]["code"], "crm_key_collision", "{answer}");
    assert_eq!(answers[1]["error"]["field"], "idempotency_key", "{answer}");
    assert_eq!(accounts(&harness, "Cased"), ["Cased A"]);

    // Without a crm key, case tells two keys apart as usual.
    let batch = json!([create("Plain A", "PlainKey"), create("Plain B", "plainkey")]);
    let answer = harness.write("plain", batch).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    Ok(())
}
