//! API keys with roles: an agent key acts for its customers only, each role
//! reaches only its routes, revoked keys stop at once, and the host's own
//! `CONDUIT_API_KEY` stays an admin key.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir};

fn company(name: &str) -> Value {
    json!({ "records": [{ "entity": "company", "operation": "upsert", "key": name,
                          "fields": { "name": name } }] })
}

async fn status_of(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test]
async fn an_agent_key_reads_and_writes_only_its_own_customers_data() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let globex = harness
        .create_key("globex agent", "agent", &["globex"])
        .await?;

    let write = |customer: &str| {
        let path = format!("/v1/customers/{customer}/writes");
        harness
            .request_as(&globex, Method::POST, &path)
            .json(&company("Isdom"))
    };
    let (status, answer) = status_of(write("globex")).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["summary"]["created"], 1, "{answer}");

    let (status, answer) = status_of(write("northwind")).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["code"], "forbidden_customer");
    assert!(harness.salesforce.org.records("Account").is_empty());

    for path in [
        "/v1/customers/northwind/audit",
        "/v1/customers/northwind/dashboard",
        "/v1/customers/northwind/schema",
    ] {
        let (status, answer) = status_of(harness.request_as(&globex, Method::GET, path)).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    let (status, answer) =
        status_of(harness.request_as(&globex, Method::GET, "/v1/customers/globex/audit")).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["entries"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
    Ok(())
}

#[tokio::test]
async fn each_role_reaches_only_its_routes() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let agent = harness.create_key("agent", "agent", &["globex"]).await?;
    let cs = harness.create_key("cs", "cs", &[]).await?;
    let engineer = harness.create_key("engineer", "engineer", &[]).await?;

    let cases = [
        (&agent, Method::POST, "/v1/keys", StatusCode::FORBIDDEN),
        (
            &agent,
            Method::PUT,
            "/v1/plugins/x/0.1.0",
            StatusCode::FORBIDDEN,
        ),
        (
            &agent,
            Method::PUT,
            "/v1/customers/globex/connection",
            StatusCode::FORBIDDEN,
        ),
        (
            &agent,
            Method::PUT,
            "/v1/customers/globex/plugin",
            StatusCode::FORBIDDEN,
        ),
        (
            &cs,
            Method::POST,
            "/v1/customers/globex/writes",
            StatusCode::FORBIDDEN,
        ),
        (
            &cs,
            Method::PUT,
            "/v1/plugins/x/0.1.0",
            StatusCode::FORBIDDEN,
        ),
        (&cs, Method::GET, "/v1/keys", StatusCode::FORBIDDEN),
        (
            &cs,
            Method::GET,
            "/v1/customers/globex/plugin",
            StatusCode::OK,
        ),
        (
            &engineer,
            Method::POST,
            "/v1/customers/globex/writes",
            StatusCode::FORBIDDEN,
        ),
        (
            &engineer,
            Method::PUT,
            "/v1/customers/globex/plugin",
            StatusCode::FORBIDDEN,
        ),
        (&engineer, Method::GET, "/v1/plugins", StatusCode::OK),
        (
            &engineer,
            Method::GET,
            "/v1/customers/northwind/schema",
            StatusCode::OK,
        ),
    ];
    for (key, method, path, expected) in cases {
        let request = harness
            .request_as(key, method.clone(), path)
            .json(&json!({}));
        let (status, answer) = status_of(request).await?;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(answer["code"], "forbidden", "{method} {path}: {answer}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_and_keys_are_audited() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let agent = harness
        .create_key("short-lived", "agent", &["globex"])
        .await?;
    let path = "/v1/customers/globex/audit";
    let (status, _) = status_of(harness.request_as(&agent, Method::GET, path)).await?;
    assert_eq!(status, StatusCode::OK);

    let (_, keys) = status_of(harness.request(Method::GET, "/v1/keys")).await?;
    let listed = keys["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{keys}");
    assert!(
        !keys.to_string().contains(&agent),
        "a listing shows a secret: {keys}"
    );
    let id = listed[0]["id"].as_str().unwrap_or_default().to_owned();

    let revoke = harness.request(Method::DELETE, &format!("/v1/keys/{id}"));
    assert_eq!(revoke.send().await?.status(), StatusCode::NO_CONTENT);
    let (status, answer) = status_of(harness.request_as(&agent, Method::GET, path)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");

    let (_, audit) = status_of(harness.request(Method::GET, "/v1/audit")).await?;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    // Newest first: the revocation, the key, then the harness's uploads of
    // the example customers' plugins.
    assert_eq!(actions[..2], ["key.revoke", "key.create"], "{audit}");
    assert!(
        actions.len() > 2 && actions[2..].iter().all(|a| *a == "plugin.upload"),
        "{audit}"
    );
    assert_eq!(audit["events"][0]["actor"], "CONDUIT_API_KEY (host-key)");
    Ok(())
}

#[tokio::test]
async fn an_agent_key_must_name_its_customers_and_they_must_exist() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    for (body, code) in [
        (json!({ "name": "a", "role": "agent" }), "invalid_request"),
        (
            json!({ "name": "a", "role": "agent", "customers": ["nobody"] }),
            "unknown_customer",
        ),
        (json!({ "name": "a", "role": "root" }), "invalid_request"),
    ] {
        let request = harness.request(Method::POST, "/v1/keys").json(&body);
        let (status, answer) = status_of(request).await?;
        assert!(status.is_client_error(), "{body}: {status}");
        assert_eq!(answer["code"], code, "{body}: {answer}");
    }
    Ok(())
}
