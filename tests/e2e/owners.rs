//! Owner attribution and per-operation connections on the Salesforce
//! simulator: records created for a rep stay the rep's through territory
//! and assignment rules, the hybrid rule writes with the right identity,
//! and a revoked rep writes nothing under another one.

use anyhow::Context;
use serde_json::{Map, Value, json};

use conduit_crm_sim::salesforce::Territory;
use conduit_tests::{Harness, results, workspace_root};

const REP: &str = "ada.lovelace@initech.example";

async fn start() -> anyhow::Result<Harness> {
    Harness::start(&workspace_root().join("tests/fixtures/connections")).await
}

/// Connects `rep` for `customer` the way a rep would: the host's authorize
/// link, the CRM's consent (approved by the simulator), the host's callback.
async fn connect_rep(harness: &Harness, customer: &str, rep: &str) -> anyhow::Result<()> {
    let path = format!("/v1/customers/{customer}/reps/{rep}/authorize");
    let answer: Value = harness
        .request(reqwest::Method::POST, &path)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let authorize = answer["authorize_url"].as_str().context("authorize_url")?;

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let consent = browser.get(authorize).send().await?;
    anyhow::ensure!(
        consent.status().is_redirection(),
        "consent: {}",
        consent.status()
    );
    let back = consent
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("the CRM sends the rep back")?;
    let landed = browser.get(back).send().await?;
    anyhow::ensure!(
        landed.status().is_success(),
        "callback: {}",
        landed.text().await?
    );
    Ok(())
}

fn record<'a>(
    records: &'a [Map<String, Value>],
    field: &str,
    value: &str,
) -> Option<&'a Map<String, Value>> {
    records
        .iter()
        .find(|r| r.get(field).and_then(Value::as_str) == Some(value))
}

#[tokio::test]
async fn a_rep_keeps_what_they_create_through_territory_and_assignment_rules() -> anyhow::Result<()>
{
    let harness = start().await?;
    let org = &harness.salesforce.org;
    let rep = org.add_user(REP, "Ada", "Lovelace");
    let queue = org.add_user("territory.queue@initech.example", "Territory", "Queue");
    let assignee = org.add_user("lead.desk@initech.example", "Lead", "Desk");
    org.set_territory(Some(Territory {
        objects: vec!["Opportunity".into()],
        members: vec![rep.clone()],
        reroute_to: queue.clone(),
    }));
    org.set_lead_assignment(Some(&assignee));
    connect_rep(&harness, "initech", REP).await?;

    let deal = json!({ "entity": "deal", "operation": "upsert", "key": "T-1", "acting_for": REP,
                       "fields": { "name": "Territory deal", "stage": "Prospecting",
                                   "close_date": "2026-12-31" } });
    let lead = json!({ "entity": "lead", "operation": "upsert", "key": "grace@hopper.example",
                       "acting_for": REP,
                       "fields": { "last_name": "Hopper", "company": "Navy" } });
    let answer = harness.write("initech", json!([deal, lead])).await?;
    for result in results(&answer) {
        assert_eq!(result["status"], "created", "{answer}");
    }

    let opportunities = org.records("Opportunity");
    let stored = record(&opportunities, "External_Id__c", "T-1").context("deal stored")?;
    assert_eq!(
        stored["OwnerId"].as_str(),
        Some(rep.as_str()),
        "the territory kept the rep"
    );
    assert_eq!(
        stored["CreatedById"].as_str(),
        Some(rep.as_str()),
        "written as the rep"
    );
    let leads = org.records("Lead");
    let stored = record(&leads, "Email", "grace@hopper.example").context("lead stored")?;
    assert_eq!(
        stored["OwnerId"].as_str(),
        Some(rep.as_str()),
        "assignment rules stayed off"
    );

    // A customer that lets assignment rules run gets the rule's owner.
    let lead = json!({ "entity": "lead", "operation": "upsert", "key": "alan@turing.example",
                       "fields": { "last_name": "Turing", "company": "Bletchley" } });
    harness.write("umbrella", json!([lead])).await?;
    let leads = org.records("Lead");
    let stored = record(&leads, "Email", "alan@turing.example").context("lead stored")?;
    assert_eq!(stored["OwnerId"].as_str(), Some(assignee.as_str()));
    Ok(())
}

#[tokio::test]
async fn the_hybrid_rule_writes_activities_as_the_rep_and_stages_as_the_org() -> anyhow::Result<()>
{
    let harness = start().await?;
    let org = &harness.salesforce.org;
    let rep = org.add_user(REP, "Ada", "Lovelace");
    let integration = org.integration_user_id();
    connect_rep(&harness, "initech", REP).await?;

    let deal = |stage: &str| {
        json!({ "entity": "deal", "operation": "upsert", "key": "H-1", "acting_for": REP,
                "fields": { "name": "Hybrid deal", "stage": stage, "close_date": "2026-12-31" } })
    };
    let meeting = json!({ "entity": "meeting", "operation": "create", "acting_for": REP,
                          "fields": { "subject": "Discovery call", "minutes": 30,
                                      "starts_at": "2026-12-04T10:00:00Z" } });
    let answer = harness
        .write("initech", json!([deal("Prospecting"), meeting]))
        .await?;
    for result in results(&answer) {
        assert_eq!(result["status"], "created", "{answer}");
    }
    let answer = harness.write("initech", json!([deal("Won")])).await?;
    assert_eq!(results(&answer)[0]["status"], "updated", "{answer}");

    let opportunities = org.records("Opportunity");
    let stored = record(&opportunities, "External_Id__c", "H-1").context("deal")?;
    assert_eq!(stored["StageName"], "Closed Won");
    assert_eq!(
        stored["CreatedById"].as_str(),
        Some(rep.as_str()),
        "created by the rep"
    );
    assert_eq!(
        stored["LastModifiedById"].as_str(),
        Some(integration.as_str()),
        "the stage change went through the org-wide connection"
    );
    assert_eq!(stored["OwnerId"].as_str(), Some(rep.as_str()));
    let events = org.records("Event");
    let event = record(&events, "Subject", "Discovery call").context("event")?;
    assert_eq!(
        event["CreatedById"].as_str(),
        Some(rep.as_str()),
        "the activity is the rep's"
    );
    assert_eq!(event["OwnerId"].as_str(), Some(rep.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_revoked_rep_writes_nothing_and_the_agent_is_told_why() -> anyhow::Result<()> {
    let harness = start().await?;
    let org = &harness.salesforce.org;
    org.add_user(REP, "Ada", "Lovelace");
    connect_rep(&harness, "initech", REP).await?;

    // The rep's grant is revoked in the CRM, and the session ends.
    let grant = harness
        .pipeline
        .store()
        .grant("initech", REP)
        .await?
        .context("grant")?;
    let refresh = grant.secrets.refresh_token.context("refresh token")?;
    assert!(org.revoke(&refresh));
    org.expire_sessions();

    let deal = json!({ "entity": "deal", "operation": "upsert", "key": "R-1", "acting_for": REP,
                       "fields": { "name": "Revoked", "stage": "Prospecting",
                                   "close_date": "2026-12-31" } });
    let answer = harness.write("initech", json!([deal.clone()])).await?;
    let result = &results(&answer)[0];
    assert_eq!(result["status"], "failed", "{answer}");
    assert_eq!(result["error"]["code"], "rep_needs_reauth", "{answer}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(REP), "{message}");
    assert!(record(&org.records("Opportunity"), "External_Id__c", "R-1").is_none());

    // The state is visible, and stays: the next write is refused at once.
    let listed: Value = harness
        .request(reqwest::Method::GET, "/v1/customers/initech/connections")
        .send()
        .await?
        .json()
        .await?;
    let rep_connection = listed["connections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["subject"] == REP))
        .context("the rep's connection is listed")?;
    assert_eq!(rep_connection["state"], "needs_reauth", "{listed}");
    let again = harness.write("initech", json!([deal])).await?;
    assert_eq!(results(&again)[0]["error"]["code"], "rep_needs_reauth");

    // A rep who never connected is refused as such: Initech's rule is `fail`.
    org.add_user("nobody@initech.example", "No", "Body");
    let stranger = json!({ "entity": "lead", "operation": "upsert", "key": "x@y.example",
                           "acting_for": "nobody@initech.example",
                           "fields": { "last_name": "X", "company": "Y" } });
    let answer = harness.write("initech", json!([stranger])).await?;
    assert_eq!(
        results(&answer)[0]["error"]["code"],
        "rep_not_connected",
        "{answer}"
    );
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_writes_on_an_expired_token_refresh_it_once() -> anyhow::Result<()> {
    let harness = start().await?;
    let org = &harness.salesforce.org;
    let lead = |i: usize| {
        json!([{ "entity": "lead", "operation": "upsert", "key": format!("l{i}@c.example"),
                 "fields": { "last_name": format!("L{i}"), "company": "C" } }])
    };
    harness.write("umbrella", lead(0)).await?;
    org.expire_sessions();
    let tokens = || {
        org.requests()
            .iter()
            .filter(|r| r.path.starts_with("/services/oauth2/token"))
            .count()
    };
    let before = tokens();

    let writes = (1..=20).map(|i| harness.write("umbrella", lead(i)));
    for answer in futures::future::join_all(writes).await {
        let answer = answer?;
        assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    }
    assert_eq!(tokens() - before, 1, "one refresh for twenty writes");
    Ok(())
}
