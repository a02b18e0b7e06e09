//! Activities in each customer's own pattern, on the simulators: Acme's
//! Salesforce Tasks with a subtype picklist, Vandelay's `Sales_Activity__c`
//! custom object, Soylent's HubSpot engagements. Each test asserts what the
//! CRM holds: the activity, its subtype, its owner and every link.

use anyhow::Context;
use serde_json::{Map, Value, json};

use conduit_tests::proxy::DropProxy;
use conduit_tests::{Harness, examples_dir};

/// The rep the agent acts for, a user of both simulated orgs.
const REP: &str = "ada.lovelace@acme.example";

/// The host on the examples, with the rep in both orgs; and the rep's
/// HubSpot owner id.
async fn start_with_owner() -> anyhow::Result<(Harness, String)> {
    let harness = Harness::start(&examples_dir()).await?;
    harness.salesforce.org.add_user(REP, "Ada", "Lovelace");
    let owner = harness.hubspot.org.add_owner(REP, "Ada", "Lovelace");
    Ok((harness, owner))
}

async fn start() -> anyhow::Result<Harness> {
    Ok(start_with_owner().await?.0)
}

/// Creates a company, a contact at it and a deal for it through the host.
async fn seed(harness: &Harness, customer: &str, suffix: &str) -> anyhow::Result<()> {
    let email = format!("bob.{suffix}@initrode.example");
    let records = json!([
        {"entity": "company", "operation": "upsert", "key": format!("Initrode {suffix}"),
         "fields": {"name": format!("Initrode {suffix}")}},
        {"entity": "contact", "operation": "upsert", "key": email,
         "fields": {"email": email, "first_name": "Bob", "last_name": "Slydell",
                    "company": format!("Initrode {suffix}")}},
        {"entity": "deal", "operation": "upsert", "key": format!("D-{suffix}"),
         "fields": {"name": format!("Initrode {suffix} renewal"), "stage": "Prospecting",
                    "close_date": "2024-06-30", "account": format!("Initrode {suffix}")}},
    ]);
    let mut records = records;
    for record in records.as_array_mut().into_iter().flatten() {
        record["acting_for"] = json!(REP);
    }
    let answer = harness.write(customer, records).await?;
    for result in answer["results"].as_array().context("results")? {
        anyhow::ensure!(result["status"] == "created", "{customer} seed: {result}");
    }
    Ok(())
}

fn call(key: &str, suffix: &str, subtype: &str) -> Value {
    json!({
        "kind": "call",
        "subtype": subtype,
        "subject": "Intro with Bob",
        "body": "Wants pricing by Friday.",
        "occurred_at": "2024-05-01T13:00:00Z",
        "duration_seconds": 900,
        "direction": "outbound",
        "outcome": "Connected",
        "related": [
            {"entity": "contact", "email": format!("bob.{suffix}@initrode.example")},
            {"entity": "company", "key": format!("Initrode {suffix}")},
            {"entity": "deal", "key": format!("D-{suffix}")},
        ],
        "acting_for": REP,
        "idempotency_key": key,
    })
}

async fn log(harness: &Harness, customer: &str, activities: Value) -> anyhow::Result<Vec<Value>> {
    let answer = harness
        .send_writes(customer, json!({ "activities": activities }))
        .await?;
    let results = answer["activities"].as_array().context("activities")?;
    Ok(results.clone())
}

/// The one Salesforce record of `object` whose `field` is `value`.
fn sf_one(
    harness: &Harness,
    object: &str,
    field: &str,
    value: &str,
) -> anyhow::Result<Map<String, Value>> {
    let found: Vec<_> = harness
        .salesforce
        .org
        .records(object)
        .into_iter()
        .filter(|r| r.get(field).and_then(Value::as_str) == Some(value))
        .collect();
    anyhow::ensure!(
        found.len() == 1,
        "{} {object} with {field} {value}",
        found.len()
    );
    Ok(found.into_iter().next().unwrap_or_default())
}

fn sf_id(harness: &Harness, object: &str, field: &str, value: &str) -> anyhow::Result<Value> {
    Ok(sf_one(harness, object, field, value)?["Id"].clone())
}

#[tokio::test]
async fn acme_logs_a_call_as_a_task_with_its_subtype_owner_and_links() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "acme", "a1").await?;

    let results = log(
        &harness,
        "acme",
        json!([call("call-a1", "a1", "discovery call")]),
    )
    .await?;
    assert_eq!(results[0]["status"], "created", "{}", results[0]);
    assert_eq!(results[0]["entity"], "activity.call");

    let task = sf_one(&harness, "Task", "Conduit_Key__c", "call-a1")?;
    assert_eq!(task["Subject"], "Intro with Bob");
    assert_eq!(task["TaskSubtype"], "Call");
    assert_eq!(task["Type"], "Call");
    assert_eq!(task["Status"], "Completed");
    assert_eq!(task["CallType"], "Outbound");
    assert_eq!(task["CallDurationInSeconds"], 900);
    assert_eq!(task["ActivityDate"], "2024-05-01");
    assert_eq!(task["Activity_Subtype__c"], "Discovery Call");
    let rep = harness.salesforce.org.user_id(REP).context("rep")?;
    assert_eq!(task["OwnerId"], rep.as_str());
    assert_eq!(
        task["WhoId"],
        sf_id(&harness, "Contact", "Email", "bob.a1@initrode.example")?
    );
    // The Task's one WhatId is the deal; Salesforce gets the account from it.
    assert_eq!(
        task["WhatId"],
        sf_id(&harness, "Opportunity", "External_Id__c", "D-a1")?
    );
    let what = results[0]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|d| d["field"] == "WhatId"))
        .context("WhatId decision")?;
    assert!(
        what["note"]
            .as_str()
            .is_some_and(|n| n.contains("`Account`")),
        "{what}"
    );
    let links: Vec<(&str, &str)> = results[0]["associations"]
        .as_array()
        .context("associations")?
        .iter()
        .map(|l| {
            (
                l["object"].as_str().unwrap_or(""),
                l["via"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(links, [("Contact", "WhoId"), ("Opportunity", "WhatId")]);
    Ok(())
}

#[tokio::test]
async fn a_subtype_added_in_the_org_is_used_after_rediscovery() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "acme", "a2").await?;

    let refused = log(
        &harness,
        "acme",
        json!([call("call-a2", "a2", "Pricing Review")]),
    )
    .await?;
    assert_eq!(
        refused[0]["error"]["code"], "unknown_subtype",
        "{}",
        refused[0]
    );
    assert!(harness.salesforce.org.records("Task").is_empty());

    harness
        .salesforce
        .org
        .add_picklist_value("Task", "Activity_Subtype__c", "Pricing Review");
    harness
        .request(reqwest::Method::POST, "/v1/customers/acme/schema/refresh")
        .send()
        .await?
        .error_for_status()?;
    let logged = log(
        &harness,
        "acme",
        json!([call("call-a2", "a2", "pricing review")]),
    )
    .await?;
    assert_eq!(logged[0]["status"], "created", "{}", logged[0]);
    let task = sf_one(&harness, "Task", "Conduit_Key__c", "call-a2")?;
    assert_eq!(task["Activity_Subtype__c"], "Pricing Review");
    Ok(())
}

#[tokio::test]
async fn vandelay_logs_a_sales_activity_with_a_lookup_per_related_record() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "vandelay", "v1").await?;

    let mut meeting = call("meeting-v1", "v1", "demo");
    meeting["kind"] = json!("meeting");
    meeting["subject"] = json!("Demo for Bob");
    let results = log(&harness, "vandelay", json!([meeting])).await?;
    assert_eq!(results[0]["status"], "created", "{}", results[0]);

    let activity = sf_one(
        &harness,
        "Sales_Activity__c",
        "Conduit_Key__c",
        "meeting-v1",
    )?;
    assert_eq!(activity["Name"], "Meeting: Demo for Bob");
    assert_eq!(activity["Kind__c"], "Meeting");
    assert_eq!(activity["Subtype__c"], "Demo");
    assert_eq!(activity["Duration_Minutes__c"], 15);
    assert_eq!(activity["Direction__c"], "Outbound");
    let rep = harness.salesforce.org.user_id(REP).context("rep")?;
    assert_eq!(activity["OwnerId"], rep.as_str());
    let contact = sf_id(&harness, "Contact", "Email", "bob.v1@initrode.example")?;
    assert_eq!(activity["Contact__c"], contact);
    assert_eq!(
        activity["Account__c"],
        sf_id(&harness, "Account", "Name", "Initrode v1")?
    );
    let deal = sf_id(&harness, "Opportunity", "External_Id__c", "D-v1")?;
    assert_eq!(activity["Opportunity__c"], deal);
    assert!(harness.salesforce.org.records("Task").is_empty());
    assert!(harness.salesforce.org.records("Event").is_empty());
    Ok(())
}

/// The HubSpot record of `object_type` whose `conduit_key` is `key`.
fn hs_one(
    harness: &Harness,
    object_type: &str,
    key: &str,
) -> anyhow::Result<conduit_crm_sim::hubspot::HubspotRecord> {
    let found: Vec<_> = harness
        .hubspot
        .org
        .records(object_type)
        .into_iter()
        .filter(|r| r.properties.get("conduit_key").and_then(Value::as_str) == Some(key))
        .collect();
    anyhow::ensure!(
        found.len() == 1,
        "{} {object_type} with key {key}",
        found.len()
    );
    found.into_iter().next().context("one")
}

fn hs_id(
    harness: &Harness,
    object_type: &str,
    property: &str,
    value: &str,
) -> anyhow::Result<String> {
    let found = harness
        .hubspot
        .org
        .records(object_type)
        .into_iter()
        .find(|r| r.properties.get(property).and_then(Value::as_str) == Some(value))
        .with_context(|| format!("{object_type} with {property} {value}"))?;
    Ok(found.id)
}

#[tokio::test]
async fn soylent_logs_a_call_engagement_associated_to_contact_company_and_deal()
-> anyhow::Result<()> {
    let (harness, owner) = start_with_owner().await?;
    seed(&harness, "soylent", "s1").await?;

    let results = log(
        &harness,
        "soylent",
        json!([call("call-s1", "s1", "discovery call")]),
    )
    .await?;
    assert_eq!(results[0]["status"], "created", "{}", results[0]);

    let engagement = hs_one(&harness, "calls", "call-s1")?;
    let p = &engagement.properties;
    assert_eq!(p["hs_call_title"], "Intro with Bob");
    assert_eq!(p["hs_call_direction"], "OUTBOUND");
    assert_eq!(p["hs_call_duration"], "900000");
    assert_eq!(p["activity_subtype"], "Discovery call");
    assert_eq!(
        p["hs_call_disposition"],
        "f240bbac-87c9-4f6e-bf70-924b57d47db7"
    );
    let stamp = p["hs_timestamp"].as_str().context("hs_timestamp")?;
    assert!(stamp.starts_with("2024-05-01T13:00:00"), "{stamp}");
    assert_eq!(p["hubspot_owner_id"], owner.as_str());

    let mut linked: Vec<(String, String)> = engagement
        .associations
        .iter()
        .map(|(to, id, _)| (to.clone(), id.clone()))
        .collect();
    linked.sort();
    let mut expected = vec![
        (
            "companies".to_owned(),
            hs_id(&harness, "companies", "name", "Initrode s1")?,
        ),
        (
            "contacts".to_owned(),
            hs_id(&harness, "contacts", "email", "bob.s1@initrode.example")?,
        ),
        (
            "deals".to_owned(),
            hs_id(&harness, "deals", "external_id", "D-s1")?,
        ),
    ];
    expected.sort();
    assert_eq!(linked, expected);
    Ok(())
}

#[tokio::test]
async fn a_refused_association_is_reported_alone_and_the_call_is_made_once() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "soylent", "s2").await?;

    let mut logged = call("call-s2", "s2", "demo");
    logged["related"] = json!([
        {"entity": "contact", "email": "bob.s2@initrode.example"},
        {"entity": "deal", "id": "999999999"},
    ]);
    let results = log(&harness, "soylent", json!([logged])).await?;
    assert_eq!(results[0]["status"], "created", "{}", results[0]);

    let links = results[0]["associations"]
        .as_array()
        .context("associations")?;
    let bad = links
        .iter()
        .find(|l| l["id"] == "999999999")
        .context("the deal link")?;
    assert!(bad["error"]["message"].is_string(), "{bad}");
    let good = links
        .iter()
        .find(|l| l["object"] == "contacts")
        .context("the contact link")?;
    assert!(good.get("error").is_none(), "{good}");

    let engagement = hs_one(&harness, "calls", "call-s2")?;
    let to: Vec<&str> = engagement
        .associations
        .iter()
        .map(|(t, _, _)| t.as_str())
        .collect();
    assert_eq!(to, ["contacts"]);
    Ok(())
}

#[tokio::test]
async fn an_activity_links_to_the_deal_the_same_request_creates() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "acme", "a3").await?;

    let body = json!({
        "activities": [{
            "kind": "task",
            "subject": "Send the order form",
            "occurred_at": "2024-05-03T09:00:00Z",
            "related": [{"entity": "deal", "key": "D-a3-new"}],
            "acting_for": REP,
            "idempotency_key": "task-a3",
        }],
        "records": [{
            "entity": "deal", "operation": "create", "key": "D-a3-new", "acting_for": REP,
            "fields": {"name": "Initrode expansion", "stage": "Prospecting",
                       "close_date": "2024-09-30", "account": "Initrode a3"},
        }],
    });
    let answer = harness.send_writes("acme", body).await?;
    assert_eq!(answer["results"][0]["status"], "created", "{answer}");
    assert_eq!(answer["activities"][0]["status"], "created", "{answer}");

    let deal = sf_id(&harness, "Opportunity", "External_Id__c", "D-a3-new")?;
    // Found only once the deal's level was written, before the Task's.
    let task = sf_one(&harness, "Task", "Conduit_Key__c", "task-a3")?;
    assert_eq!(task["WhatId"], deal);
    assert_eq!(task["Status"], "Not Started");

    Ok(())
}

#[tokio::test]
async fn bad_activities_fail_alone_with_the_reason() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "acme", "a4").await?;

    let mut no_key = call("x", "a4", "demo");
    no_key.as_object_mut().map(|a| a.remove("idempotency_key"));
    let mut bad_time = call("call-a4-time", "a4", "demo");
    bad_time["occurred_at"] = json!("yesterday");
    let mut bad_related = call("call-a4-rel", "a4", "demo");
    bad_related["related"] = json!([{"entity": "invoice", "id": "1"}]);
    let mut two_ways = call("call-a4-two", "a4", "demo");
    two_ways["related"] = json!([{"entity": "contact", "id": "003", "email": "a@b.example"}]);
    let mut unknown_key = call("call-a4-extra", "a4", "demo");
    unknown_key["colour"] = json!("blue");
    let good = call("call-a4", "a4", "demo");

    let results = log(
        &harness,
        "acme",
        json!([no_key, bad_time, bad_related, two_ways, unknown_key, good]),
    )
    .await?;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "missing_idempotency_key",
            "invalid_occurred_at",
            "invalid_related",
            "invalid_related",
            "invalid_activity",
            "ok"
        ]
    );
    assert_eq!(results[5]["status"], "created");
    assert_eq!(harness.salesforce.org.records("Task").len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_same_activity_sent_again_is_answered_not_logged_twice() -> anyhow::Result<()> {
    let harness = start().await?;
    seed(&harness, "soylent", "s3").await?;

    let first = log(&harness, "soylent", json!([call("call-s3", "s3", "demo")])).await?;
    let again = log(&harness, "soylent", json!([call("call-s3", "s3", "demo")])).await?;
    assert_eq!(first[0]["status"], "created");
    assert_eq!(again[0]["replayed"], true, "{}", again[0]);
    assert_eq!(again[0]["crm_id"], first[0]["crm_id"]);
    hs_one(&harness, "calls", "call-s3")?;
    Ok(())
}

/// Connects `customer` to its org through `proxy` instead of directly.
async fn connect_through(
    harness: &Harness,
    customer: &str,
    proxy: &DropProxy,
    oauth: conduit_crm_sim::OAuthClient,
) -> anyhow::Result<()> {
    let body = json!({
        "base_url": proxy.base_url,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "refresh_token": oauth.refresh_token,
    });
    harness
        .request(
            reqwest::Method::PUT,
            &format!("/v1/customers/{customer}/connection"),
        )
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_finds_the_activity_instead_of_logging_it_twice()
-> anyhow::Result<()> {
    let harness = start().await?;
    let orgs = [
        ("acme", "Task", "/composite/sobjects"),
        ("soylent", "calls", "/batch/create"),
    ];
    for (customer, object, create_path) in orgs {
        seed(&harness, customer, "r1").await?;
        let (upstream, oauth) = match customer {
            "acme" => (
                &harness.salesforce.base_url,
                harness.salesforce.org.oauth_client(),
            ),
            _ => (
                &harness.hubspot.base_url,
                harness.hubspot.org.oauth_client(),
            ),
        };
        let proxy = DropProxy::start(upstream).await?;
        connect_through(&harness, customer, &proxy, oauth).await?;
        let stored = |harness: &Harness| -> usize {
            match customer {
                "acme" => harness.salesforce.org.records(object).len(),
                _ => harness.hubspot.org.records(object).len(),
            }
        };

        // The CRM makes the activity; its answer never reaches the host.
        proxy.drop_next_answer("POST", create_path);
        let key = format!("call-{customer}-r1");
        let lost = log(&harness, customer, json!([call(&key, "r1", "demo")])).await?;
        assert_eq!(proxy.dropped(), 1, "{customer}");
        assert_eq!(lost[0]["status"], "failed", "{customer}: {}", lost[0]);
        assert_eq!(
            lost[0]["error"]["retryable"], true,
            "{customer}: {}",
            lost[0]
        );
        assert_eq!(stored(&harness), 1, "{customer}");

        // The agent retries with the same key: found by it, not made again.
        let retried = log(&harness, customer, json!([call(&key, "r1", "demo")])).await?;
        assert_eq!(
            retried[0]["status"], "unchanged",
            "{customer}: {}",
            retried[0]
        );
        assert!(
            retried[0]["crm_id"].is_string(),
            "{customer}: {}",
            retried[0]
        );
        assert_eq!(stored(&harness), 1, "{customer}");
    }
    Ok(())
}

#[tokio::test]
async fn an_activity_whose_object_the_org_lacks_fails_alone() -> anyhow::Result<()> {
    let yaml = "customer: initrode\ncrm: salesforce\nactivities:\n  meeting:\n    \
                object: Meeting__c\n    fields:\n      subject: Subject__c\n";
    let dir = conduit_tests::config_with_customer("initrode", yaml)?;
    let harness = Harness::start(dir.path()).await?;
    harness.salesforce.org.add_user(REP, "Ada", "Lovelace");

    let related = json!([{"entity": "company", "key": "Initrode"}]);
    let body = json!({
        "records": [{"entity": "company", "operation": "upsert", "key": "Initrode",
                     "fields": {"name": "Initrode"}}],
        "activities": [
            {"kind": "meeting", "subject": "Kickoff", "occurred_at": "2024-05-01T13:00:00Z",
             "related": related, "acting_for": REP, "idempotency_key": "m-1"},
            {"kind": "call", "subject": "Intro", "occurred_at": "2024-05-01T15:00:00Z",
             "related": related, "acting_for": REP, "idempotency_key": "c-1"},
        ],
    });
    let answer = harness.send_writes("initrode", body).await?;
    assert_eq!(answer["results"][0]["status"], "created", "{answer}");
    let meeting = &answer["activities"][0];
    assert_eq!(meeting["error"]["code"], "schema_unavailable", "{meeting}");
    let message = meeting["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Meeting__c"), "{message}");
    assert_eq!(answer["activities"][1]["status"], "created", "{answer}");
    assert_eq!(harness.salesforce.org.records("Task").len(), 1);
    Ok(())
}
