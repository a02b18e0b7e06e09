//! One write, end to end: the agent's HTTP request through config, mapping,
//! plugin, schema check, matching, owner and export plan into the simulated
//! CRMs, checked against what the simulators stored.

use anyhow::Context;
use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, results};

const NORTHWIND_REP: &str = "anna.snelling@northwind.example";
const GLOBEX_REP: &str = "anna.snelling@globex.example";

fn company(name: &str, sector: &str) -> Value {
    json!({
        "entity": "company",
        "operation": "upsert",
        "key": name,
        "fields": { "name": name, "sector": sector, "employees": 2822, "revenue": 1100.04 },
    })
}

fn deal(key: &str, rep: &str, fields: Value) -> Value {
    json!({
        "entity": "deal",
        "operation": "upsert",
        "key": key,
        "acting_for": rep,
        "fields": fields,
    })
}

fn status(result: &Value) -> &str {
    result["status"].as_str().unwrap_or("missing")
}

fn salesforce_record<'a>(
    records: &'a [serde_json::Map<String, Value>],
    field: &str,
    value: &str,
) -> anyhow::Result<&'a serde_json::Map<String, Value>> {
    records
        .iter()
        .find(|r| r.get(field).and_then(Value::as_str) == Some(value))
        .with_context(|| format!("no record with {field} {value}"))
}

#[tokio::test]
async fn a_deal_lands_in_salesforce_owned_by_the_rep_linked_to_its_account() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let rep_id = harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");

    // The dataset's "technolgy" goes through Northwind's value map.
    let answer = harness
        .write("northwind", json!([company("Cancity", "technolgy")]))
        .await?;
    assert_eq!(status(&results(&answer)[0]), "created", "{answer}");

    let won = deal(
        "1C1I7A6R",
        NORTHWIND_REP,
        json!({
            "name": "GTX Plus Basic for Cancity", "account": "Cancity", "product": "GTXPro",
            "stage": "Won", "close_date": "2017-03-01", "amount": 1054,
        }),
    );
    let open = deal(
        "OPEN0001",
        NORTHWIND_REP,
        json!({
            "name": "MG Special (OPEN0001)", "product": "MG Special", "stage": "Prospecting",
        }),
    );
    let answer = harness.write("northwind", json!([won, open])).await?;
    let answers = results(&answer);
    assert_eq!(status(&answers[0]), "created", "{answer}");
    assert_eq!(status(&answers[1]), "created", "{answer}");

    let accounts = harness.salesforce.org.records("Account");
    let account = salesforce_record(&accounts, "Name", "Cancity")?;
    assert_eq!(account["Industry"], "Technology");
    let opportunities = harness.salesforce.org.records("Opportunity");
    let stored = salesforce_record(&opportunities, "External_Id__c", "1C1I7A6R")?;
    assert_eq!(stored["StageName"], "Closed Won");
    assert_eq!(stored["OwnerId"].as_str(), Some(rep_id.as_str()));
    assert_eq!(stored["AccountId"], account["Id"]);
    assert_eq!(stored["Product__c"], "GTX Pro");
    assert_eq!(stored["CloseDate"], "2017-03-01");
    assert_eq!(stored["Amount"].as_f64(), Some(1054.0));

    // No close date in the dataset: Northwind's placeholder, on create.
    let open = salesforce_record(&opportunities, "External_Id__c", "OPEN0001")?;
    assert_eq!(open["CloseDate"], "2017-12-31");
    assert_eq!(open["StageName"], "Prospecting");
    assert!(open.get("AccountId").is_none_or(Value::is_null));
    Ok(())
}

#[tokio::test]
async fn globex_stages_come_from_its_plugin_and_deals_link_to_companies() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let owner_id = harness
        .hubspot
        .org
        .add_owner(GLOBEX_REP, "Anna", "Snelling");
    harness
        .write("globex", json!([company("Isdom", "medical")]))
        .await?;

    let premium = deal(
        "Z063OYW0",
        GLOBEX_REP,
        json!({
            "name": "GTXPro for Isdom", "account": "Isdom", "product": "GTXPro",
            "stage": "Engaging",
        }),
    );
    let basic = deal(
        "EC4QE1BX",
        GLOBEX_REP,
        json!({
            "name": "GTX Basic for Isdom", "account": "Isdom", "product": "GTX Basic",
            "stage": "Engaging",
        }),
    );
    let lead = deal(
        "MV1LWRNH",
        GLOBEX_REP,
        json!({
            "name": "GTX Basic (MV1LWRNH)", "product": "GTX Basic", "stage": "Prospecting",
        }),
    );
    let answer = harness
        .write("globex", json!([premium, basic, lead]))
        .await?;
    assert!(
        results(&answer).iter().all(|r| status(r) == "created"),
        "{answer}"
    );

    let companies = harness.hubspot.org.records("companies");
    let isdom = companies
        .iter()
        .find(|c| c.properties["name"] == "Isdom")
        .context("company")?;
    assert_eq!(isdom.properties["industry"], "MEDICAL_DEVICES");

    let deals = harness.hubspot.org.records("deals");
    let stage_of = |key: &str| {
        deals
            .iter()
            .find(|d| d.properties.get("external_id").and_then(Value::as_str) == Some(key))
            .map(|d| (d.properties["dealstage"].clone(), d))
    };
    let (stage, premium) = stage_of("Z063OYW0").context("premium deal")?;
    assert_eq!(stage, "decisionmakerboughtin");
    assert_eq!(
        premium.properties["hubspot_owner_id"].as_str(),
        Some(owner_id.as_str())
    );
    assert!(
        premium
            .associations
            .iter()
            .any(|(to, id, type_id)| { to == "companies" && *id == isdom.id && *type_id == 5 }),
        "deal not associated with its company: {:?}",
        premium.associations
    );
    assert_eq!(
        stage_of("EC4QE1BX").context("basic deal")?.0,
        "presentationscheduled"
    );
    assert_eq!(
        stage_of("MV1LWRNH").context("lead")?.0,
        "appointmentscheduled"
    );
    Ok(())
}

#[tokio::test]
async fn an_update_keeps_what_a_person_entered() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    let first = deal(
        "UPD00001",
        NORTHWIND_REP,
        json!({
            "name": "GTX Basic deal", "product": "GTX Basic", "stage": "Engaging",
            "close_date": "2017-06-01",
        }),
    );
    harness.write("northwind", json!([first])).await?;

    // A RevOps person renames the opportunity and corrects its product.
    let stored = harness.salesforce.org.records("Opportunity");
    let id = stored[0]["Id"].as_str().context("id")?.to_owned();
    let mut edit = serde_json::Map::new();
    edit.insert("Name".into(), "Renamed by RevOps".into());
    edit.insert("Product__c".into(), "MG Special".into());
    harness.salesforce.org.update("Opportunity", &id, edit);

    let again = deal(
        "UPD00001",
        NORTHWIND_REP,
        json!({
            "name": "GTX Basic deal", "product": "GTX Basic", "stage": "Won",
            "close_date": "2017-06-01", "amount": 550,
        }),
    );
    let answer = harness.write("northwind", json!([again])).await?;
    let result = &results(&answer)[0];
    assert_eq!(status(result), "updated", "{answer}");

    let record = harness
        .salesforce
        .org
        .record("Opportunity", &id)
        .context("record")?;
    assert_eq!(
        record["Name"], "Renamed by RevOps",
        "name is `skip` on update"
    );
    assert_eq!(
        record["Product__c"], "MG Special",
        "product is `fill_if_empty`"
    );
    assert_eq!(record["StageName"], "Closed Won", "stage is `overwrite`");
    assert_eq!(record["Amount"].as_f64(), Some(550.0));

    let reason = |field: &str| {
        result["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["field"] == field))
            .map(|f| f["reason"].clone())
    };
    assert_eq!(reason("Name"), Some(json!("policy_skip")));
    assert_eq!(reason("Product__c"), Some(json!("has_value")));
    assert_eq!(reason("StageName"), Some(json!("overwrite")));
    assert_eq!(reason("Amount"), Some(json!("filled_empty")));
    Ok(())
}

#[tokio::test]
async fn sending_the_same_records_again_writes_nothing() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .hubspot
        .org
        .add_owner(GLOBEX_REP, "Anna", "Snelling");
    let batch = json!([
        company("Cancity", "software"),
        deal(
            "SAME0001",
            GLOBEX_REP,
            json!({ "name": "A", "stage": "Won", "amount": 10 })
        ),
    ]);
    harness.write("globex", batch.clone()).await?;

    let writes = |h: &Harness| {
        h.hubspot
            .org
            .requests()
            .iter()
            .filter(|r| {
                r.method != "GET"
                    && !r.path.contains("search")
                    && !r.path.contains("batch/read")
                    && !r.path.contains("oauth")
            })
            .count()
    };
    let before = writes(&harness);
    let answer = harness.write("globex", batch).await?;
    assert!(
        results(&answer).iter().all(|r| status(r) == "unchanged"),
        "{answer}"
    );
    assert_eq!(
        writes(&harness),
        before,
        "an unchanged record costs no write call"
    );
    assert_eq!(harness.hubspot.org.records("deals").len(), 1);
    Ok(())
}

#[tokio::test]
async fn one_bad_record_fails_alone() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    let batch = json!([
        deal("GOOD0001", NORTHWIND_REP, json!({ "name": "Good", "stage": "Won",
            "close_date": "2017-01-01" })),
        deal("BAD00001", NORTHWIND_REP, json!({ "name": "Bad stage", "stage": "Negotiating",
            "close_date": "2017-01-01" })),
        { "entity": "deal", "operation": "delete", "key": "BAD00002" },
        deal("BAD00003", NORTHWIND_REP, json!({ "name": "No such account",
            "account": "Nobody Inc", "stage": "Won", "close_date": "2017-01-01" })),
        deal("BAD00004", "stranger@elsewhere.example", json!({ "name": "Unknown rep",
            "stage": "Won", "close_date": "2017-01-01" })),
    ]);
    let answer = harness.write("northwind", batch).await?;
    let answers = results(&answer);
    let codes: Vec<&str> = answers
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "-",
            "invalid_picklist_value",
            "invalid_record",
            "reference_not_found",
            "owner_not_found"
        ],
        "{answer}"
    );
    assert_eq!(answers[1]["error"]["field"], "StageName");
    let message = answers[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Negotiating") && message.contains("Closed Won"),
        "{message}"
    );

    let stored = harness.salesforce.org.records("Opportunity");
    assert_eq!(stored.len(), 1, "only the good record is written");
    assert_eq!(stored[0]["External_Id__c"], "GOOD0001");
    Ok(())
}

#[tokio::test]
async fn an_idempotency_key_writes_once_and_replays_its_outcome() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    let mut intent = deal(
        "IDEM0001",
        NORTHWIND_REP,
        json!({ "name": "Once", "stage": "Won",
        "close_date": "2017-01-01" }),
    );
    intent["idempotency_key"] = "agent-call-42".into();

    let first = harness.write("northwind", json!([intent.clone()])).await?;
    let second = harness.write("northwind", json!([intent])).await?;
    assert_eq!(status(&results(&first)[0]), "created");
    assert_eq!(status(&results(&second)[0]), "created");
    assert_eq!(results(&second)[0]["replayed"], true);
    assert_eq!(results(&second)[0]["crm_id"], results(&first)[0]["crm_id"]);
    assert_eq!(harness.salesforce.org.records("Opportunity").len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_dry_run_returns_the_plan_and_writes_nothing() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    let intent = deal(
        "DRY00001",
        NORTHWIND_REP,
        json!({ "name": "Plan only", "stage": "Won",
        "close_date": "2017-01-01" }),
    );
    let answer = harness.dry_run("northwind", json!([intent])).await?;
    let result = &results(&answer)[0];
    assert_eq!(status(result), "planned", "{answer}");
    assert!(result["fields"].as_array().is_some_and(|f| {
        f.iter()
            .any(|f| f["field"] == "StageName" && f["decision"] == "write")
    }));
    assert!(harness.salesforce.org.records("Opportunity").is_empty());
    Ok(())
}

#[tokio::test]
async fn requests_without_the_api_key_are_refused() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/customers/northwind/writes", harness.base))
        .json(&json!({ "records": [] }))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    Ok(())
}

#[tokio::test]
async fn an_explicit_null_on_create_takes_the_default_like_an_absent_value() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    let open = deal(
        "NULL0001",
        NORTHWIND_REP,
        json!({ "name": "Null close", "product": "MG Special", "stage": "Prospecting",
                "close_date": null, "amount": "" }),
    );

    let answer = harness.write("northwind", json!([open])).await?;
    assert_eq!(status(&results(&answer)[0]), "created", "{answer}");
    let stored = harness.salesforce.org.records("Opportunity");
    let stored = salesforce_record(&stored, "External_Id__c", "NULL0001")?;
    assert_eq!(stored["CloseDate"], "2017-12-31");
    assert!(
        stored.get("Amount").is_none_or(Value::is_null),
        "an empty amount is nothing"
    );
    Ok(())
}
