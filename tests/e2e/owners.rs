//! Owner attribution and per-operation connections on the Salesforce
//! simulator: records created for a rep stay the rep's through territory
//! and assignment rules, the hybrid rule writes with the right identity,
//! and a revoked rep writes nothing under another one.

use anyhow::Context;
use serde_json::{Map, Value, json};

use conduit_crm_sim::salesforce::Territory;
use conduit_tests::{Harness, logged, results, workspace_root};

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

    let landed = consent(authorize).await?;
    anyhow::ensure!(
        landed.status().is_success(),
        "callback: {}",
        landed.text().await?
    );
    Ok(())
}

/// What a rep's browser does with an authorization link: the CRM's consent
/// page (approved by the simulator), then the host's callback it is sent
/// back to; the callback's answer.
async fn consent(authorize: &str) -> anyhow::Result<reqwest::Response> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let approved = browser.get(authorize).send().await?;
    anyhow::ensure!(
        approved.status().is_redirection(),
        "consent: {}",
        approved.status()
    );
    let back = approved
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("the CRM sends the rep back")?;
    Ok(browser.get(back).send().await?)
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

#[tokio::test]
async fn the_org_app_acts_as_a_preauthorised_rep_through_jwt_bearer() -> anyhow::Result<()> {
    let harness = start().await?;
    let org = &harness.salesforce.org;
    let rep = org.add_user(REP, "Ada", "Lovelace");
    let outsider = "eve@initech.example";
    org.add_user(outsider, "Eve", "Outsider");
    let keys = workspace_root().join("tests/fixtures/jwt");
    let oauth = org.oauth_client();
    org.register_jwt_key(
        &oauth.client_id,
        &std::fs::read_to_string(keys.join("public.pem"))?,
    )?;
    org.preauthorize(&oauth.client_id, REP);

    // The org's connection gains the app's private key.
    let connection = json!({
        "base_url": harness.salesforce.base_url, "client_id": oauth.client_id,
        "client_secret": oauth.client_secret, "refresh_token": oauth.refresh_token,
        "jwt_private_key": std::fs::read_to_string(keys.join("private.pem"))?,
    });
    harness
        .request(reqwest::Method::PUT, "/v1/customers/hooli/connection")
        .json(&connection)
        .send()
        .await?
        .error_for_status()?;

    let deal = |key: &str, rep: &str| {
        json!({ "entity": "deal", "operation": "upsert", "key": key, "acting_for": rep,
                "fields": { "name": key, "stage": "Prospecting", "close_date": "2026-12-31" } })
    };
    let answer = harness
        .write("hooli", json!([deal("J-1", REP), deal("J-2", outsider)]))
        .await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    let opportunities = org.records("Opportunity");
    let stored = record(&opportunities, "External_Id__c", "J-1").context("deal")?;
    assert_eq!(
        stored["CreatedById"].as_str(),
        Some(rep.as_str()),
        "written as the rep"
    );

    // A rep the admin did not pre-authorise is refused, and nothing is
    // written in their name by anyone else.
    assert_eq!(
        answers[1]["error"]["code"], "rep_not_authorized",
        "{answer}"
    );
    assert!(record(&opportunities, "External_Id__c", "J-2").is_none());
    Ok(())
}

#[tokio::test]
async fn no_token_or_secret_is_logged_answered_or_audited() -> anyhow::Result<()> {
    let harness = start().await?;
    let org = &harness.salesforce.org;
    org.add_user(REP, "Ada", "Lovelace");
    connect_rep(&harness, "initech", REP).await?;
    let deal = json!({ "entity": "deal", "operation": "upsert", "key": "S-1", "acting_for": REP,
                       "fields": { "name": "Secret", "stage": "Prospecting",
                                   "close_date": "2026-12-31" } });
    harness.write("initech", json!([deal.clone()])).await?;
    // Expired sessions make both connections refresh, logging as they go.
    org.expire_sessions();
    harness.write("initech", json!([deal])).await?;

    let store = harness.pipeline.store();
    let mut secrets = vec![org.oauth_client().client_secret];
    for subject in ["", REP] {
        let grant = store.grant("initech", subject).await?.context("grant")?;
        assert!(!format!("{grant:?}").contains(&grant.secrets.client_secret));
        secrets.push(grant.secrets.client_secret.clone());
        secrets.extend(grant.secrets.refresh_token.clone());
        secrets.extend(grant.access.map(|a| a.value));
    }
    assert!(
        secrets.len() >= 5,
        "the org's and the rep's tokens: {}",
        secrets.len()
    );

    let answers = [
        "/v1/customers/initech/connections",
        "/v1/customers/initech/audit",
        "/v1/customers/initech/dashboard",
    ];
    let mut shown = logged();
    for path in answers {
        let answer = harness.request(reqwest::Method::GET, path).send().await?;
        shown.push_str(&answer.text().await?);
    }
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "a secret was logged or answered"
        );
    }
    assert!(
        shown.contains("refreshing access token"),
        "the capture holds the host's logs"
    );
    Ok(())
}

#[tokio::test]
async fn the_owner_changes_on_update_only_where_the_config_says_so() -> anyhow::Result<()> {
    let harness = start().await?;
    let org = &harness.salesforce.org;
    let first = org.add_user(REP, "Ada", "Lovelace");
    let second = org.add_user("grace.hopper@initech.example", "Grace", "Hopper");
    connect_rep(&harness, "initech", REP).await?;
    let deal = |key: &str, rep: &str, stage: &str| {
        json!({ "entity": "deal", "operation": "upsert", "key": key, "acting_for": rep,
                "fields": { "name": key, "stage": stage, "close_date": "2026-12-31" } })
    };
    let owner = |key: &str| {
        let records = org.records("Opportunity");
        record(&records, "External_Id__c", key)
            .and_then(|r| r["OwnerId"].as_str().map(str::to_owned))
    };

    // Initech keeps the owner set on create.
    harness
        .write("initech", json!([deal("O-1", REP, "Prospecting")]))
        .await?;
    let answer = harness
        .write(
            "initech",
            json!([deal("O-1", "grace.hopper@initech.example", "Won")]),
        )
        .await?;
    assert_eq!(results(&answer)[0]["status"], "updated", "{answer}");
    assert_eq!(owner("O-1"), Some(first.clone()));

    // Umbrella maps the owner as overwritable: the update reassigns it.
    harness
        .write("umbrella", json!([deal("O-2", REP, "Prospecting")]))
        .await?;
    assert_eq!(owner("O-2"), Some(first));
    let answer = harness
        .write(
            "umbrella",
            json!([deal("O-2", "grace.hopper@initech.example", "Prospecting")]),
        )
        .await?;
    let result = &results(&answer)[0];
    assert_eq!(result["status"], "updated", "{answer}");
    assert_eq!(owner("O-2"), Some(second));
    Ok(())
}

#[tokio::test]
async fn a_hubspot_rep_connects_and_writes_as_their_own_user() -> anyhow::Result<()> {
    let harness = start().await?;
    let hubspot = &harness.hubspot.org;
    let rep = "dinesh@piedpiper.example";
    let owner_id = hubspot.add_owner(rep, "Dinesh", "Chugtai");
    connect_rep(&harness, "piedpiper", rep).await?;

    let deal = json!({ "entity": "deal", "operation": "upsert", "key": "P-1", "acting_for": rep,
                       "fields": { "name": "Compression", "stage": "Prospecting",
                                   "close_date": "2026-12-31" } });
    let answer = harness.write("piedpiper", json!([deal])).await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");

    let stored = hubspot
        .records("deals")
        .into_iter()
        .find(|r| r.properties.get("external_id").and_then(Value::as_str) == Some("P-1"))
        .context("deal")?;
    // The owner is the owner's `id`; the writer is the rep's user, not the
    // integration user.
    assert_eq!(
        stored.properties["hubspot_owner_id"].as_str(),
        Some(owner_id.as_str())
    );
    let writer = stored.properties["hs_created_by_user_id"]
        .as_str()
        .unwrap_or_default();
    assert_ne!(writer, hubspot.integration_user_id());
    assert_ne!(writer, owner_id, "a user id is not an owner id");
    Ok(())
}

#[tokio::test]
async fn a_grant_made_by_another_user_than_the_rep_is_refused() -> anyhow::Result<()> {
    let harness = start().await?;
    harness.salesforce.org.add_user(REP, "Ada", "Lovelace");
    harness
        .salesforce
        .org
        .add_user("eve@initech.example", "Eve", "Admin");
    harness
        .hubspot
        .org
        .add_owner("dinesh@piedpiper.example", "Dinesh", "Chugtai");
    harness
        .hubspot
        .org
        .add_owner("gilfoyle@piedpiper.example", "Bertram", "Gilfoyle");

    // The rep's browser is signed in as someone else: the CRM grants as Eve.
    for (customer, rep, signed_in) in [
        ("initech", REP, "eve@initech.example"),
        (
            "piedpiper",
            "dinesh@piedpiper.example",
            "gilfoyle@piedpiper.example",
        ),
    ] {
        let path = format!("/v1/customers/{customer}/reps/{rep}/authorize");
        let answer: Value = harness
            .request(reqwest::Method::POST, &path)
            .send()
            .await?
            .json()
            .await?;
        let authorize = answer["authorize_url"].as_str().context("authorize_url")?;
        let hint = url::form_urlencoded::byte_serialize(rep.as_bytes()).collect::<String>();
        let other = url::form_urlencoded::byte_serialize(signed_in.as_bytes()).collect::<String>();
        let tampered = authorize.replace(
            &format!("login_hint={hint}"),
            &format!("login_hint={other}"),
        );
        assert_ne!(tampered, authorize);

        let landed = consent(&tampered).await?;
        assert_eq!(landed.status(), 400, "{customer}");
        let problem: Value = landed.json().await?;
        assert_eq!(problem["code"], "wrong_user", "{problem}");
        let stored = harness.pipeline.store().grant(customer, rep).await?;
        assert!(stored.is_none(), "{customer}: nothing stored for the rep");
    }
    Ok(())
}
