//! Export semantics end to end on the simulators: dates in the customer's
//! zone, multi-selects, picklist refusals and fallbacks, explicit clears,
//! truncation, the forward-only lifecycle stage, dry runs and the audit.

use anyhow::Context;
use serde_json::{Map, Value, json};

use conduit_tests::{Harness, results, workspace_root};

async fn start() -> anyhow::Result<Harness> {
    Harness::start(&workspace_root().join("tests/fixtures/semantics")).await
}

fn company(name: &str, fields: Value) -> Value {
    let mut fields = fields;
    fields["name"] = name.into();
    json!({ "entity": "company", "operation": "upsert", "key": name, "fields": fields })
}

fn deal(key: &str, fields: Value) -> Value {
    json!({ "entity": "deal", "operation": "upsert", "key": key, "fields": fields })
}

/// The one result of a one-record write, which must have this status.
async fn write_one(
    harness: &Harness,
    customer: &str,
    record: Value,
    status: &str,
) -> anyhow::Result<Value> {
    let answer = harness.write(customer, json!([record])).await?;
    let result = results(&answer).into_iter().next().context("one result")?;
    anyhow::ensure!(result["status"] == status, "wanted {status}: {answer}");
    Ok(result)
}

/// The decision on `field` in a result.
fn decision<'a>(result: &'a Value, field: &str) -> anyhow::Result<&'a Value> {
    result["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["field"] == field))
        .with_context(|| format!("no decision on {field} in {result}"))
}

fn hubspot_company(harness: &Harness, name: &str) -> anyhow::Result<Map<String, Value>> {
    harness
        .hubspot
        .org
        .records("companies")
        .into_iter()
        .find(|r| r.properties.get("name").and_then(Value::as_str) == Some(name))
        .map(|r| r.properties)
        .with_context(|| format!("no company {name} in the HubSpot simulator"))
}

fn salesforce_account(harness: &Harness, name: &str) -> anyhow::Result<Map<String, Value>> {
    harness
        .salesforce
        .org
        .records("Account")
        .into_iter()
        .find(|r| r.get("Name").and_then(Value::as_str) == Some(name))
        .with_context(|| format!("no account {name} in the Salesforce simulator"))
}

#[tokio::test]
async fn a_date_property_gets_the_day_in_the_customers_zone() -> anyhow::Result<()> {
    let harness = start().await?;
    // 23:30 in Los Angeles on 5 March is 07:30 UTC on 6 March.
    let late = json!({ "name": "Renewal", "stage": "Prospecting",
                       "renewal_date": "2024-03-05T23:30:00-08:00" });

    let result = write_one(&harness, "initech", deal("D-LA", late.clone()), "created").await?;
    assert_eq!(
        decision(&result, "subscription_expiration_timestamp")?["value"],
        "2024-03-05"
    );
    // Hooli keeps UTC days.
    write_one(&harness, "hooli", deal("D-UTC", late), "created").await?;

    let stored = |key: &str| {
        harness
            .hubspot
            .org
            .records("deals")
            .into_iter()
            .find(|r| r.properties.get("external_id").and_then(Value::as_str) == Some(key))
            .and_then(|r| {
                r.properties
                    .get("subscription_expiration_timestamp")
                    .cloned()
            })
    };
    assert_eq!(stored("D-LA"), Some(json!("2024-03-05")));
    assert_eq!(stored("D-UTC"), Some(json!("2024-03-06")));
    Ok(())
}

#[tokio::test]
async fn a_multi_select_is_sent_joined_and_every_item_is_checked() -> anyhow::Result<()> {
    let harness = start().await?;
    let good = company(
        "Multi",
        json!({ "technologies": ["google_analytics", "Google Maps"] }),
    );
    let bad = company(
        "Broken",
        json!({ "technologies": ["google_analytics", "carrier_pigeon"] }),
    );

    let answer = harness.write("initech", json!([good, bad])).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(answers[1]["status"], "failed", "{answer}");
    assert_eq!(answers[1]["error"]["code"], "invalid_picklist_value");
    assert_eq!(answers[1]["error"]["field"], "web_technologies");
    let message = answers[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`carrier_pigeon`"), "{message}");

    // Labels are matched to their stored values; the CRM gets `;`-joined
    // values, and the refused record was never sent.
    let stored = hubspot_company(&harness, "Multi")?;
    assert_eq!(stored["web_technologies"], "google_analytics;google_maps");
    assert!(hubspot_company(&harness, "Broken").is_err());
    Ok(())
}

#[tokio::test]
async fn a_restricted_picklist_value_is_refused_before_sending() -> anyhow::Result<()> {
    let harness = start().await?;
    let calls_before = harness.salesforce.org.request_count();
    let record = deal(
        "O-1",
        json!({ "name": "Forecast", "stage": "Prospecting",
                                      "close_date": "2024-06-30", "forecast": "Maybe" }),
    );

    let result = write_one(&harness, "umbrella", record, "failed").await?;
    assert_eq!(result["error"]["code"], "invalid_picklist_value");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ForecastCategoryName"), "{message}");
    assert!(message.contains("Pipeline, Best Case, Commit"), "{message}");

    // Only the token and reads went out: the schema and the lookup.
    let writes: Vec<String> = harness
        .salesforce
        .org
        .requests()
        .into_iter()
        .skip(calls_before as usize)
        .filter(|r| r.method != "GET" && !r.path.contains("/oauth2/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(harness.salesforce.org.records("Opportunity").is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unknown_value_takes_the_configured_fallback_and_says_so() -> anyhow::Result<()> {
    let harness = start().await?;
    let record = company("Fallback", json!({ "sector": "aerospace" }));

    let result = write_one(&harness, "initech", record, "created").await?;
    let sector = decision(&result, "industry")?;
    assert_eq!(sector["value"], "INFORMATION_TECHNOLOGY_AND_SERVICES");
    let note = sector["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("`aerospace`") && note.contains("fallback"),
        "{note}"
    );
    let stored = hubspot_company(&harness, "Fallback")?;
    assert_eq!(stored["industry"], "INFORMATION_TECHNOLOGY_AND_SERVICES");
    Ok(())
}

#[tokio::test]
async fn an_explicit_clear_empties_a_field_only_where_the_mapping_allows_it() -> anyhow::Result<()>
{
    let harness = start().await?;
    let first = json!({ "description": "Typed once", "city": "Austin" });
    write_one(
        &harness,
        "initech",
        company("Clears", first.clone()),
        "created",
    )
    .await?;
    write_one(&harness, "umbrella", company("Keeps", first), "created").await?;

    // `description` allows clearing at Initech; `city` does not anywhere.
    let clear = json!({ "description": null, "city": "" });
    let result = write_one(
        &harness,
        "initech",
        company("Clears", clear.clone()),
        "updated",
    )
    .await?;
    assert_eq!(decision(&result, "description")?["reason"], "cleared");
    assert_eq!(decision(&result, "city")?["reason"], "empty_value");
    let stored = hubspot_company(&harness, "Clears")?;
    assert_eq!(
        stored["description"], "",
        "HubSpot clears with an empty string"
    );
    assert_eq!(stored["city"], "Austin");

    // Umbrella turned clearing off: nothing to write, nothing changed.
    let result = write_one(&harness, "umbrella", company("Keeps", clear), "unchanged").await?;
    assert_eq!(decision(&result, "Description")?["reason"], "empty_value");
    let stored = salesforce_account(&harness, "Keeps")?;
    assert_eq!(stored["Description"], "Typed once");
    assert_eq!(stored["BillingCity"], "Austin");
    Ok(())
}

#[tokio::test]
async fn text_over_the_fields_length_is_cut_where_the_config_says_so() -> anyhow::Result<()> {
    let harness = start().await?;
    let city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch";
    let record = company("Long", json!({ "city": city }));

    let result = write_one(&harness, "umbrella", record, "created").await?;
    let decided = decision(&result, "BillingCity")?;
    assert_eq!(decided["note"], "truncated from 58 to 40 characters");
    let stored = salesforce_account(&harness, "Long")?;
    assert_eq!(
        stored["BillingCity"],
        city.chars().take(40).collect::<String>()
    );
    Ok(())
}

#[tokio::test]
async fn a_lifecycle_stage_moves_back_only_where_the_config_allows_it() -> anyhow::Result<()> {
    let harness = start().await?;
    let customer = json!({ "lifecycle_stage": "customer" });
    let lead = json!({ "lifecycle_stage": "lead" });
    write_one(
        &harness,
        "initech",
        company("Stays", customer.clone()),
        "created",
    )
    .await?;
    write_one(&harness, "hooli", company("Moves", customer), "created").await?;

    // By default the move back is skipped and reported.
    let result = write_one(
        &harness,
        "initech",
        company("Stays", lead.clone()),
        "unchanged",
    )
    .await?;
    let stage = decision(&result, "lifecyclestage")?;
    assert_eq!(stage["reason"], "regression");
    assert_eq!(stage["current"], "customer");
    assert_eq!(
        hubspot_company(&harness, "Stays")?["lifecyclestage"],
        "customer"
    );

    // Hooli allows it: cleared, then set, then read back.
    let before = harness.hubspot.org.requests().len();
    let result = write_one(&harness, "hooli", company("Moves", lead), "updated").await?;
    assert_eq!(
        decision(&result, "lifecyclestage")?["reason"],
        "regression_allowed"
    );
    assert_eq!(
        hubspot_company(&harness, "Moves")?["lifecyclestage"],
        "lead"
    );
    let writes: Vec<String> = harness.hubspot.org.requests()[before..]
        .iter()
        .filter(|r| r.path.contains("/batch/update"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(writes.len(), 2, "a clear and a set: {writes:?}");

    // Moving forward needs no such steps anywhere.
    let evangelist = json!({ "lifecycle_stage": "evangelist" });
    let result = write_one(&harness, "initech", company("Stays", evangelist), "updated").await?;
    assert_eq!(decision(&result, "lifecyclestage")?["reason"], "overwrite");
    assert_eq!(
        hubspot_company(&harness, "Stays")?["lifecyclestage"],
        "evangelist"
    );
    Ok(())
}

#[tokio::test]
async fn a_dry_run_plans_exactly_what_the_real_run_then_writes() -> anyhow::Result<()> {
    let harness = start().await?;
    let first = json!({ "description": "First", "city": "Austin", "sector": "software" });
    write_one(&harness, "initech", company("Planned", first), "created").await?;
    let stored = hubspot_company(&harness, "Planned")?;

    let change = company(
        "Planned",
        json!({ "description": "Second", "city": "Austin", "sector": "retail",
                "technologies": ["google_maps"], "lifecycle_stage": "lead" }),
    );
    let dry = harness.dry_run("initech", json!([change.clone()])).await?;
    let planned = results(&dry).into_iter().next().context("one plan")?;
    assert_eq!(planned["status"], "planned", "{dry}");
    assert_eq!(
        hubspot_company(&harness, "Planned")?,
        stored,
        "a dry run writes nothing"
    );

    let real = write_one(&harness, "initech", change, "updated").await?;
    assert_eq!(
        planned["fields"], real["fields"],
        "the plan is what was done"
    );

    let after = hubspot_company(&harness, "Planned")?;
    for field in real["fields"].as_array().context("fields")? {
        let name = field["field"].as_str().context("name")?;
        let value = match &field["value"] {
            Value::Array(items) => {
                let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                json!(items.join(";"))
            }
            other => other.clone(),
        };
        if field["decision"] == "write" {
            assert_eq!(after[name], value, "{name} holds what the plan wrote");
        } else {
            assert_eq!(after.get(name), stored.get(name), "{name} was left alone");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_audit_keeps_each_fields_before_and_after_per_record() -> anyhow::Result<()> {
    let harness = start().await?;
    let first = json!({ "description": "First", "city": "Austin" });
    write_one(&harness, "initech", company("Audited", first), "created").await?;
    write_one(&harness, "initech", company("Other", json!({})), "created").await?;
    let second = json!({ "description": "Second", "city": "Boston" });
    write_one(&harness, "initech", company("Audited", second), "updated").await?;

    let audit = |query: &str| {
        let path = format!("/v1/customers/initech/audit?{query}");
        let request = harness.request(reqwest::Method::GET, &path);
        async move {
            let answer: Value = request.send().await?.error_for_status()?.json().await?;
            anyhow::Ok(answer["entries"].as_array().cloned().unwrap_or_default())
        }
    };
    let entries = audit("record=Audited&object=companies").await?;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e["record_key"] == "Audited"));
    let update = &entries[0];
    assert_eq!(update["status"], "updated");
    let description = update["decisions"]
        .as_array()
        .and_then(|d| d.iter().find(|f| f["field"] == "description"))
        .context("description decision")?;
    assert_eq!(description["current"], "First");
    assert_eq!(description["value"], "Second");
    assert_eq!(description["reason"], "overwrite");

    // By CRM id too, and by time.
    let id = update["crm_id"].as_str().context("crm id")?;
    assert_eq!(audit(&format!("record={id}")).await?.len(), 2);
    assert!(audit("since=2999-01-01T00:00:00Z").await?.is_empty());
    assert_eq!(audit("object=deals").await?.len(), 0);
    Ok(())
}

#[tokio::test]
async fn a_value_over_hubspots_text_limit_fails_its_record_alone() -> anyhow::Result<()> {
    let harness = start().await?;
    let huge = "x".repeat(70_000);
    let records = json!([
        company("Huge", json!({ "description": huge })),
        company("Small", json!({ "description": "fits" })),
    ]);

    let answer = harness.write("initech", records).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "failed", "{answer:.300}");
    assert_eq!(answers[0]["error"]["code"], "value_too_long");
    assert_eq!(answers[1]["status"], "created");
    assert_eq!(hubspot_company(&harness, "Small")?["description"], "fits");
    Ok(())
}
