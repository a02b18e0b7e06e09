//! One test per enforcement rule of the simulators, each named for its rule, plus the
//! injected faults.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::{Hubspot, Salesforce};

fn deal() -> Value {
    json!({"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-31"})
}

// Salesforce rules.

#[tokio::test]
async fn rule_salesforce_required_fields() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let (status, body) = sf
        .call(
            Method::POST,
            "/sobjects/Opportunity",
            Some(json!({"Name": "D"})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(body[0]["fields"], json!(["StageName", "CloseDate"]));
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_restricted_picklists() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let mut body = deal();
    body["Product__c"] = json!("Nope");
    let (status, answer) = sf
        .call(Method::POST, "/sobjects/Opportunity", Some(body))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(
        answer[0]["errorCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(answer[0]["fields"], json!(["Product__c"]));
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_type_errors() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let body = json!({"Name": "A", "NumberOfEmployees": "many"});
    let (status, answer) = sf
        .call(Method::POST, "/sobjects/Account", Some(body))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "JSON_PARSER_ERROR");
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_create_only_fields() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let task = sf
        .create("Task", json!({"Subject": "Call", "TaskSubtype": "Call"}))
        .await?;
    let path = format!("/sobjects/Task/{task}");
    let (status, answer) = sf
        .call(Method::PATCH, &path, Some(json!({"TaskSubtype": "Email"})))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_reference_integrity() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let lead = sf
        .create("Lead", json!({"LastName": "L", "Company": "C"}))
        .await?;
    let body = json!({"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-31",
        "AccountId": lead});
    let (_, answer) = sf
        .call(Method::POST, "/sobjects/Opportunity", Some(body))
        .await?;
    assert_eq!(answer[0]["errorCode"], "FIELD_INTEGRITY_EXCEPTION");
    assert_eq!(answer[0]["fields"], json!(["AccountId"]));
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_task_who_lead_with_what_is_refused() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let lead = sf
        .create("Lead", json!({"LastName": "L", "Company": "C"}))
        .await?;
    let account = sf.create("Account", json!({"Name": "A"})).await?;
    let body = json!({"Subject": "Call", "WhoId": lead, "WhatId": account});
    let (_, answer) = sf.call(Method::POST, "/sobjects/Task", Some(body)).await?;
    assert_eq!(answer[0]["errorCode"], "FIELD_INTEGRITY_EXCEPTION");
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_lead_assignment_runs_unless_auto_assign_is_false() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let queue = sf.sim.org.add_user("queue@example.com", "Q", "Ueue");
    sf.sim.org.set_lead_assignment(Some("queue@example.com"));
    let lead = json!({"LastName": "L", "Company": "C"});
    let assigned = sf.create("Lead", lead.clone()).await?;
    let owner = |id: &str| sf.sim.org.record("Lead", id).map(|r| r["OwnerId"].clone());
    assert_eq!(owner(&assigned), Some(json!(queue)));
    let kept: Value = sf
        .http
        .post(format!("{}/sobjects/Lead", sf.data))
        .bearer_auth(&sf.token)
        .header("Sforce-Auto-Assign", "FALSE")
        .json(&lead)
        .send()
        .await?
        .json()
        .await?;
    let kept = kept["id"].as_str().unwrap_or_default();
    assert_eq!(owner(kept), Some(json!(sf.sim.org.integration_user_id())));
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_api_usage_in_sforce_limit_info_and_limits() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let response = sf
        .http
        .get(format!("{}/sobjects", sf.data))
        .bearer_auth(&sf.token)
        .send()
        .await?;
    let header = response.headers().get("Sforce-Limit-Info").cloned();
    assert_eq!(
        header.as_ref().and_then(|h| h.to_str().ok()),
        Some("api-usage=1/15000")
    );
    let (_, limits) = sf.call(Method::GET, "/limits", None).await?;
    assert_eq!(
        limits["DailyApiRequests"],
        json!({"Max": 15000, "Remaining": 14_998})
    );
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_request_limit_exceeded_when_the_allocation_is_spent() -> anyhow::Result<()>
{
    let sf = Salesforce::start(None).await?;
    sf.sim.org.set_api_usage(3, Some(2));
    assert_eq!(sf.call(Method::GET, "/sobjects", None).await?.0, 200);
    let (status, body) = sf.call(Method::GET, "/sobjects", None).await?;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    Ok(())
}

// HubSpot rules.

#[tokio::test]
async fn rule_hubspot_unique_email() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    hs.create(
        "contacts",
        json!({"properties": {"email": "a@example.com"}}),
    )
    .await?;
    let again = json!({"properties": {"email": "A@example.com"}});
    let (status, body) = hs
        .call(Method::POST, "/crm/v3/objects/contacts", Some(again))
        .await?;
    assert_eq!((status, body["category"].clone()), (409, json!("CONFLICT")));
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_dates_must_be_midnight_utc() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    let body = json!({"properties": {"dealname": "D",
        "subscription_expiration_timestamp": "1714557600001"}});
    let (status, answer) = hs
        .call(Method::POST, "/crm/v3/objects/deals", Some(body))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(answer["errors"][0]["code"], "INVALID_DATE");
    let midnight = json!({"properties": {"dealname": "D",
        "subscription_expiration_timestamp": "1714521600000"}});
    hs.create("deals", midnight).await?;
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_hs_timestamp_required_on_engagements() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    for object_type in ["calls", "emails", "meetings", "notes", "tasks"] {
        let path = format!("/crm/v3/objects/{object_type}");
        let (status, body) = hs
            .call(Method::POST, &path, Some(json!({"properties": {}})))
            .await?;
        assert_eq!(status, 400, "{object_type}");
        assert_eq!(
            body["errors"][0]["context"]["propertyName"],
            json!(["hs_timestamp"])
        );
    }
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_lifecycle_stage_never_moves_backwards() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    let id = hs
        .create(
            "contacts",
            json!({"properties": {"lifecyclestage": "customer"}}),
        )
        .await?;
    let path = format!("/crm/v3/objects/contacts/{id}");
    let back = json!({"properties": {"lifecyclestage": "lead", "firstname": "A"}});
    let (status, body) = hs.call(Method::PATCH, &path, Some(back)).await?;
    assert_eq!(status, 200);
    assert_eq!(body["properties"]["lifecyclestage"], "customer");
    assert_eq!(body["properties"]["firstname"], "A");
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_error_bodies_carry_category_and_correlation_id() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    let (status, body) = hs
        .call(Method::GET, "/crm/v3/objects/deals/424242", None)
        .await?;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
    let id = body["correlationId"].as_str().unwrap_or_default();
    assert!(uuid_like(id), "{id}");
    Ok(())
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn rule_hubspot_ten_second_rolling_limit_answers_429_with_policy_name() -> anyhow::Result<()>
{
    let hs = Hubspot::start(Some(
        "oauth_clients: [{client_id: c, client_secret: s, refresh_token: r}]\n\
         rate_limits: {ten_secondly: 3}\n",
    ))
    .await?;
    for remaining in ["2", "1", "0"] {
        let response = hs
            .http
            .get(format!("{}/crm/v3/objects/deals", hs.sim.base_url))
            .bearer_auth(&hs.token)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        let left = response
            .headers()
            .get("X-HubSpot-RateLimit-Remaining")
            .cloned();
        assert_eq!(left.as_ref().and_then(|v| v.to_str().ok()), Some(remaining));
    }
    let (status, body) = hs.call(Method::GET, "/crm/v3/objects/deals", None).await?;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert!(body["correlationId"].is_string());
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_search_has_its_own_lower_rate_limit() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(
        "oauth_clients: [{client_id: c, client_secret: s, refresh_token: r}]\n\
         rate_limits: {ten_secondly: 100, search_per_second: 2}\n",
    ))
    .await?;
    let search = || {
        hs.call(
            Method::POST,
            "/crm/v3/objects/deals/search",
            Some(json!({})),
        )
    };
    assert_eq!(search().await?.0, 200);
    assert_eq!(search().await?.0, 200);
    let (status, body) = search().await?;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "SECONDLY");
    assert_eq!(
        hs.call(Method::GET, "/crm/v3/objects/deals", None).await?.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(search().await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn rule_hubspot_search_pages_through_at_most_10000_results() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    let deep = json!({"after": "10000", "limit": 10});
    let (status, body) = hs
        .call(Method::POST, "/crm/v3/objects/deals/search", Some(deep))
        .await?;
    assert_eq!(
        (status, body["category"].clone()),
        (400, json!("VALIDATION_ERROR"))
    );
    let edge = json!({"after": "9990", "limit": 10});
    let (status, _) = hs
        .call(Method::POST, "/crm/v3/objects/deals/search", Some(edge))
        .await?;
    assert_eq!(status, 200);
    Ok(())
}

// Injected faults.

#[tokio::test]
async fn fault_latency_delays_every_call() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(
        "oauth_clients: [{client_id: c, client_secret: s, refresh_token: r}]\n\
         faults: {latency_ms: 150}\n",
    ))
    .await?;
    let start = Instant::now();
    sf.call(Method::GET, "/sobjects", None).await?;
    assert!(start.elapsed() >= Duration::from_millis(150));
    Ok(())
}

#[tokio::test]
async fn fault_server_errors_answer_the_next_calls() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let admin = format!("{}/__sim/faults", sf.sim.base_url);
    let plan = json!({"fail_next": 2, "error_status": 500});
    assert_eq!(sf.http.put(&admin).json(&plan).send().await?.status(), 204);
    let (status, body) = sf.call(Method::GET, "/sobjects", None).await?;
    assert_eq!(
        (status, body[0]["errorCode"].clone()),
        (500, json!("UNKNOWN_EXCEPTION"))
    );
    assert_eq!(sf.call(Method::GET, "/sobjects", None).await?.0, 500);
    assert_eq!(sf.call(Method::GET, "/sobjects", None).await?.0, 200);

    let hs = Hubspot::start(None).await?;
    hs.sim.org.set_faults(conduit_crm_sim::Faults {
        fail_next: 1,
        ..Default::default()
    });
    let (status, body) = hs.call(Method::GET, "/crm/v3/objects/deals", None).await?;
    assert_eq!(
        (status, body["category"].clone()),
        (503, json!("INTERNAL_ERROR"))
    );
    Ok(())
}

#[tokio::test]
async fn fault_drop_after_commit_loses_the_answer_but_keeps_the_write() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    sf.sim.org.set_faults(conduit_crm_sim::Faults {
        drop_next: 1,
        ..Default::default()
    });
    let answer = sf
        .http
        .post(format!("{}/sobjects/Account", sf.data))
        .bearer_auth(&sf.token)
        .json(&json!({"Name": "Committed"}))
        .send()
        .await;
    let read = match answer {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(read.is_err(), "the answer should not arrive");
    assert_eq!(
        sf.sim.org.records("Account").len(),
        1,
        "the write committed"
    );
    assert_eq!(sf.sim.org.faults().drop_next, 0);
    Ok(())
}

#[tokio::test]
async fn fault_429_storm_refuses_the_next_calls() -> anyhow::Result<()> {
    let hs = Hubspot::start(None).await?;
    let admin = format!("{}/__sim/faults", hs.sim.base_url);
    let storm = json!({"throttle_next": 3});
    assert_eq!(hs.http.put(&admin).json(&storm).send().await?.status(), 204);
    for _ in 0..3 {
        let (status, body) = hs.call(Method::GET, "/crm/v3/objects/deals", None).await?;
        assert_eq!(
            (status, body["policyName"].clone()),
            (429, json!("TEN_SECONDLY_ROLLING"))
        );
    }
    assert_eq!(
        hs.call(Method::GET, "/crm/v3/objects/deals", None).await?.0,
        200
    );

    let sf = Salesforce::start(None).await?;
    sf.sim.org.set_faults(conduit_crm_sim::Faults {
        throttle_next: 1,
        ..Default::default()
    });
    let (status, body) = sf.call(Method::GET, "/sobjects", None).await?;
    assert_eq!(
        (status, body[0]["errorCode"].clone()),
        (403, json!("REQUEST_LIMIT_EXCEEDED"))
    );
    Ok(())
}

/// An org with a rep under field-level security, a validation rule and duplicate rules.
const RULES: &str = r#"
oauth_clients: [{ client_id: c, client_secret: s, refresh_token: r }]
users: [{ email: rep@example.com, first_name: Rep, last_name: One }]
field_security:
  - { user: rep@example.com, object: Opportunity, read_only: [Amount], hidden: [Probability] }
validation_rules:
  - object: Opportunity
    name: Amount_Needed_To_Close
    when:
      - { field: StageName, equals: Closed Won }
      - { field: Amount, is_null: true }
    message: Closed deals need an amount.
    error_field: Amount
duplicate_rules:
  - { object: Lead, name: Lead_Email, match_fields: [Email], action: block }
  - { object: Contact, name: Contact_Name, match_fields: [FirstName, LastName], action: allow }
"#;

/// `sf` signed in as the rep instead of the integration user.
async fn as_rep(mut sf: Salesforce) -> anyhow::Result<Salesforce> {
    let client = sf.sim.org.oauth_client();
    let refresh = sf.sim.org.grant_for(&client.client_id, "rep@example.com")?;
    let answer: Value = sf
        .http
        .post(format!("{}/services/oauth2/token", sf.sim.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", client.client_secret.as_str()),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    sf.token = answer["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(sf)
}

#[tokio::test]
async fn rule_salesforce_field_level_security_per_user() -> anyhow::Result<()> {
    let integration = Salesforce::start(Some(RULES)).await?;
    let mut body = deal();
    body["Amount"] = json!(10);
    let id = integration.create("Opportunity", body).await?;
    let rep = as_rep(integration).await?;

    let mut body = deal();
    body["Amount"] = json!(5);
    let (status, answer) = rep
        .call(Method::POST, "/sobjects/Opportunity", Some(body))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(answer[0]["fields"], json!(["Amount"]));

    let hidden = json!({"Probability": 50});
    let path = format!("/sobjects/Opportunity/{id}");
    let (_, answer) = rep.call(Method::PATCH, &path, Some(hidden)).await?;
    assert_eq!(answer[0]["errorCode"], "INVALID_FIELD");
    let (status, answer) = rep
        .call(
            Method::GET,
            "/query?q=SELECT+Probability+FROM+Opportunity",
            None,
        )
        .await?;
    assert_eq!(
        (status, answer[0]["errorCode"].clone()),
        (400, json!("INVALID_FIELD"))
    );
    let (_, row) = rep.call(Method::GET, &path, None).await?;
    assert_eq!(row["Amount"], 10.0);
    assert!(row.get("Probability").is_none(), "{row}");
    let (_, describe) = rep
        .call(Method::GET, "/sobjects/Opportunity/describe", None)
        .await?;
    let fields = describe["fields"].as_array().cloned().unwrap_or_default();
    assert!(!fields.iter().any(|f| f["name"] == "Probability"));
    let amount = fields.iter().find(|f| f["name"] == "Amount").cloned();
    assert_eq!(amount.map(|a| a["updateable"].clone()), Some(json!(false)));
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_validation_rules_with_their_messages() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(RULES)).await?;
    let mut body = deal();
    body["StageName"] = json!("Closed Won");
    let (status, answer) = sf
        .call(Method::POST, "/sobjects/Opportunity", Some(body.clone()))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!([{"message": "Closed deals need an amount.",
                "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Amount"]}])
    );
    let id = sf.create("Opportunity", deal()).await?;
    let close = json!({"StageName": "Closed Won"});
    let path = format!("/sobjects/Opportunity/{id}");
    let (status, _) = sf.call(Method::PATCH, &path, Some(close)).await?;
    assert_eq!(
        status, 400,
        "an update is checked on the record it would leave"
    );
    body["Amount"] = json!(100);
    sf.create("Opportunity", body).await?;
    Ok(())
}

#[tokio::test]
async fn rule_salesforce_duplicate_rules() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(RULES)).await?;
    let lead = json!({"LastName": "L", "Company": "C", "Email": "a@example.com"});
    let first = sf.create("Lead", lead.clone()).await?;
    let mut again = lead.clone();
    again["Email"] = json!("A@example.com");
    let (status, answer) = sf.call(Method::POST, "/sobjects/Lead", Some(again)).await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "DUPLICATES_DETECTED");
    let result = &answer[0]["duplicateResult"];
    assert_eq!(result["allowSave"], false);
    assert_eq!(result["duplicateRule"], "Lead_Email");
    assert_eq!(
        result["matchResults"][0]["matchRecords"][0]["record"]["Id"],
        json!(first)
    );

    let contact = json!({"FirstName": "Ada", "LastName": "Ng"});
    sf.create("Contact", contact.clone()).await?;
    let (status, _) = sf
        .call(Method::POST, "/sobjects/Contact", Some(contact.clone()))
        .await?;
    assert_eq!(status, 400);
    let allowed = sf
        .http
        .post(format!("{}/sobjects/Contact", sf.data))
        .bearer_auth(&sf.token)
        .header("Sforce-Duplicate-Rule-Header", "allowSave=true")
        .json(&contact)
        .send()
        .await?;
    assert_eq!(
        allowed.status(),
        201,
        "an allow rule saves when the caller allows it"
    );
    Ok(())
}
