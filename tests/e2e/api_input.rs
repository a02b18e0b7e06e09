//! What the API does with input it must refuse: every error is a problem
//! details body naming what is wrong, and nothing is written or stored on a
//! mistake.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, results};

const NORTHWIND_REP: &str = "anna.snelling@northwind.example";

/// The status and body of a problem answer, checking its media type.
async fn problem(response: Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = response.status();
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await?;
    assert_eq!(
        media_type.as_deref(),
        Some("application/problem+json"),
        "{status}: {body}"
    );
    Ok((status, serde_json::from_str(&body)?))
}

fn deal(key: &str) -> Value {
    json!({
        "entity": "deal", "operation": "upsert", "key": key, "acting_for": NORTHWIND_REP,
        "fields": { "name": key, "stage": "Won", "close_date": "2017-01-01" },
    })
}

/// The harness's Salesforce credentials for Northwind, as a connection body.
fn northwind_connection(harness: &Harness) -> Value {
    let oauth = harness.salesforce.org.oauth_client();
    json!({
        "base_url": harness.salesforce.base_url,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "refresh_token": oauth.refresh_token,
    })
}

async fn put_connection(harness: &Harness, body: &Value) -> anyhow::Result<Response> {
    Ok(harness
        .request(Method::PUT, "/v1/customers/northwind/connection")
        .json(body)
        .send()
        .await?)
}

#[tokio::test]
async fn a_misspelt_dry_run_is_refused_and_writes_nothing() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");

    let response = harness
        .request(Method::POST, "/v1/customers/northwind/writes")
        .json(&json!({ "records": [deal("TYPO0001")], "dryrun": true }))
        .send()
        .await?;
    let (status, body) = problem(response).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["field"], "dryrun");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`dryrun`") && detail.contains("`records`, `activities`, `dry_run`"),
        "{detail}"
    );
    assert!(harness.salesforce.org.records("Opportunity").is_empty());
    Ok(())
}

#[tokio::test]
async fn a_full_batch_of_large_records_is_read_past_two_megabytes() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    // 1000 records of 3 KB: over axum's default limit, within the batch's.
    let notes = "n".repeat(3000);
    let record = json!({ "entity": "no_such_entity", "operation": "create",
                         "fields": { "notes": notes } });
    let records = vec![record; 1000];
    let answer = harness.dry_run("northwind", json!(records)).await?;
    assert_eq!(results(&answer).len(), 1000);
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let body = vec![b' '; 17 * 1024 * 1024];
    let response = harness
        .request(Method::POST, "/v1/customers/northwind/writes")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let (status, body) = problem(response).await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "body_too_large");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("16 MiB")),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_problem_naming_it() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let response = harness
        .request(Method::GET, "/v1/customers/northwind/audit?limit=abc")
        .send()
        .await?;
    let (status, body) = problem(response).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["field"], "limit");

    let response = harness
        .request(Method::GET, "/v1/customers/northwind/audit?limit=5")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    Ok(())
}

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_is_a_problem_naming_it() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let response = harness
        .request(Method::GET, "/v1/customers/%FF/audit")
        .send()
        .await?;
    let (status, body) = problem(response).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "customer");
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    for path in ["/nowhere", "/v1/nowhere", "/v1/customers/northwind/nowhere"] {
        let response = harness.request(Method::GET, path).send().await?;
        let (status, body) = problem(response).await?;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["code"], "not_found", "{path}");
    }

    for (method, path, allowed) in [
        (Method::GET, "/v1/customers/northwind/writes", "POST"),
        (Method::DELETE, "/v1/customers/northwind/connection", "PUT"),
        (Method::POST, "/healthz", "GET,HEAD"),
    ] {
        let response = harness.request(method.clone(), path).send().await?;
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body) = problem(response).await?;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
    }
    Ok(())
}

#[tokio::test]
async fn a_connection_with_unknown_keys_or_a_bad_base_url_is_refused() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let mut unknown = northwind_connection(&harness);
    unknown["instance_url"] = "https://eu.example".into();
    let (status, body) = problem(put_connection(&harness, &unknown).await?).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "instance_url");

    let mut relative = northwind_connection(&harness);
    relative["base_url"] = "login.salesforce.com".into();
    let (status, body) = problem(put_connection(&harness, &relative).await?).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "base_url");
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_the_connection_in_use_stays() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");

    let mut wrong = northwind_connection(&harness);
    wrong["client_secret"] = "not-the-secret".into();
    let (status, body) = problem(put_connection(&harness, &wrong).await?).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "connection_refused");
    assert_eq!(body["retryable"], false);
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("authentication failure"),
        "the CRM's own message: {detail}"
    );

    // The refused credentials were not stored: writes go on.
    let answer = harness
        .write("northwind", json!([deal("KEPT0001")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");

    let right = northwind_connection(&harness);
    assert_eq!(put_connection(&harness, &right).await?.status(), 204);
    Ok(())
}

#[tokio::test]
async fn a_refused_hubspot_connection_carries_hubspots_message() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let oauth = harness.hubspot.org.oauth_client();
    let wrong = json!({
        "base_url": harness.hubspot.base_url,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "refresh_token": "revoked",
    });
    let response = harness
        .request(Method::PUT, "/v1/customers/globex/connection")
        .json(&wrong)
        .send()
        .await?;
    let (status, body) = problem(response).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "connection_refused");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("missing or unknown refresh token"),
        "{detail}"
    );
    Ok(())
}

#[tokio::test]
async fn a_crm_that_cannot_be_reached_is_a_retryable_502() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    // A port nothing listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = closed.local_addr()?;
    drop(closed);

    let mut unreachable = northwind_connection(&harness);
    unreachable["base_url"] = format!("http://{address}").into();
    let (status, body) = problem(put_connection(&harness, &unreachable).await?).await?;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "crm_unreachable");
    assert_eq!(body["retryable"], true);
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("unreachable"), "{detail}");
    Ok(())
}

#[tokio::test]
async fn a_nested_field_value_fails_its_record_alone_naming_the_field() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");

    let mut nested = deal("NEST0001");
    nested["fields"]["name"] = json!({ "nested": true });
    let answer = harness
        .write("northwind", json!([nested, deal("GOOD0001")]))
        .await?;
    let answers = results(&answer);
    let error = &answers[0]["error"];
    assert_eq!(error["code"], "invalid_record", "{answer}");
    assert_eq!(error["field"], "name", "{answer}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`name`")
            && message.contains("text, a number, a boolean, null or a list of text"),
        "{message}"
    );
    assert_eq!(answers[1]["status"], "created", "{answer}");
    Ok(())
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    let url = format!("{}/v1/customers/northwind/audit", harness.base);
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = reqwest::Client::new()
            .get(&url)
            .header("authorization", format!("{scheme} {}", harness.api_key))
            .send()
            .await?;
        assert_eq!(response.status(), 200, "{scheme}");
    }
    Ok(())
}

#[tokio::test]
async fn plugin_names_and_versions_are_checked() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    for (path, field) in [
        ("/v1/plugins/..%2F..%2Fx/1.0.0", "name"),
        ("/v1/plugins/Globex/1.0.0", "name"),
        ("/v1/plugins/globex/1.0", "version"),
        ("/v1/plugins/globex/1.0.0+build", "version"),
    ] {
        let response = harness
            .request(Method::PUT, path)
            .body(b"\0asm".to_vec())
            .send()
            .await?;
        let (status, body) = problem(response).await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn a_record_that_is_not_an_object_fails_alone_saying_what_a_record_is() -> anyhow::Result<()>
{
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");

    let answer = harness
        .write("northwind", json!(["a deal", 7, deal("GOOD0002")]))
        .await?;
    let answers = results(&answer);
    for (bad, kind) in [(&answers[0], "string"), (&answers[1], "number")] {
        assert_eq!(bad["error"]["code"], "invalid_record", "{answer}");
        let message = bad["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("not a {kind}")), "{message}");
        assert!(!message.contains("WriteIntent"), "{message}");
    }
    assert_eq!(answers[2]["status"], "created", "{answer}");
    Ok(())
}
