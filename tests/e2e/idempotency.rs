//! Idempotency keys over HTTP: a key writes once, belongs to one record, and
//! is given back when its record failed without writing anything.

use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, results};

const REP: &str = "anna.snelling@northwind.example";

fn deal(key: &str, idempotency_key: &str, stage: &str) -> Value {
    json!({
        "entity": "deal",
        "operation": "upsert",
        "key": key,
        "acting_for": REP,
        "idempotency_key": idempotency_key,
        "fields": { "name": format!("Deal {key}"), "stage": stage, "close_date": "2017-01-01" },
    })
}

fn code(result: &Value) -> &str {
    result["error"]["code"].as_str().unwrap_or("-")
}

async fn harness_with_rep() -> anyhow::Result<Harness> {
    let harness = Harness::start(&examples_dir()).await?;
    harness.salesforce.org.add_user(REP, "Anna", "Snelling");
    Ok(harness)
}

#[tokio::test]
async fn a_key_sent_again_with_a_different_record_is_refused_and_writes_nothing()
-> anyhow::Result<()> {
    let harness = harness_with_rep().await?;
    let first = harness
        .write("northwind", json!([deal("IDEMA", "k1", "Won")]))
        .await?;
    assert_eq!(results(&first)[0]["status"], "created", "{first}");

    let second = harness
        .write("northwind", json!([deal("IDEMB", "k1", "Won")]))
        .await?;
    let answer = &results(&second)[0];
    assert_eq!(code(answer), "idempotency_key_reused", "{second}");
    assert_eq!(answer["error"]["field"], "idempotency_key");
    assert_eq!(
        answer.get("crm_id"),
        None,
        "no other record's id is handed out"
    );

    let stored = harness.salesforce.org.records("Opportunity");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["External_Id__c"], "IDEMA");
    Ok(())
}

#[tokio::test]
async fn a_key_used_twice_in_one_batch_fails_the_second_record() -> anyhow::Result<()> {
    let harness = harness_with_rep().await?;
    let batch = json!([deal("DUPA", "k2", "Won"), deal("DUPB", "k2", "Lost")]);
    let answer = harness.write("northwind", batch).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(code(&answers[1]), "duplicate_idempotency_key", "{answer}");
    assert_eq!(harness.salesforce.org.records("Opportunity").len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_record_that_failed_before_writing_can_be_fixed_and_sent_with_its_key()
-> anyhow::Result<()> {
    let harness = harness_with_rep().await?;
    let refused = harness
        .write("northwind", json!([deal("FIX1", "k3", "Negotiating")]))
        .await?;
    assert_eq!(
        code(&results(&refused)[0]),
        "invalid_picklist_value",
        "{refused}"
    );

    let fixed = harness
        .write("northwind", json!([deal("FIX1", "k3", "Won")]))
        .await?;
    assert_eq!(results(&fixed)[0]["status"], "created", "{fixed}");
    assert_eq!(results(&fixed)[0]["replayed"], false);
    Ok(())
}

#[tokio::test]
async fn a_rep_added_after_a_refusal_is_found_when_the_record_is_sent_again() -> anyhow::Result<()>
{
    let harness = Harness::start(&examples_dir()).await?;
    let record = json!([deal("LATE1", "k4", "Won")]);
    let refused = harness.write("northwind", record.clone()).await?;
    assert_eq!(code(&results(&refused)[0]), "owner_not_found", "{refused}");

    let rep_id = harness.salesforce.org.add_user(REP, "Anna", "Snelling");
    let retried = harness.write("northwind", record).await?;
    assert_eq!(results(&retried)[0]["status"], "created", "{retried}");
    let stored = harness.salesforce.org.records("Opportunity");
    assert_eq!(stored[0]["OwnerId"].as_str(), Some(rep_id.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_dry_run_answers_what_a_real_run_would_for_its_keys_and_takes_none() -> anyhow::Result<()>
{
    let harness = harness_with_rep().await?;
    let first = harness
        .write("northwind", json!([deal("IDEMD", "d1", "Won")]))
        .await?;
    assert_eq!(results(&first)[0]["status"], "created", "{first}");

    let dry = harness
        .dry_run(
            "northwind",
            json!([
                deal("IDEMD", "d1", "Lost"),
                deal("IDEMD", "d1", "Won"),
                deal("IDEME", "d2", "Won")
            ]),
        )
        .await?;
    let answers = results(&dry);
    assert_eq!(code(&answers[0]), "idempotency_key_reused", "{dry}");
    assert_eq!(code(&answers[1]), "duplicate_idempotency_key", "{dry}");
    assert_eq!(answers[2]["status"], "planned", "{dry}");

    let replay = harness
        .dry_run("northwind", json!([deal("IDEMD", "d1", "Won")]))
        .await?;
    assert_eq!(results(&replay)[0]["replayed"], true, "{replay}");

    // The dry run took no key: the real run with `d2` writes.
    let real = harness
        .write("northwind", json!([deal("IDEME", "d2", "Won")]))
        .await?;
    assert_eq!(results(&real)[0]["status"], "created", "{real}");
    Ok(())
}
