//! What operators rely on: request ids both ways, liveness and readiness.

use serde_json::Value;

use conduit_tests::{Harness, examples_dir};

fn request_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_request_id_is_kept_or_made_and_returned_in_problems() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;

    // The caller's id comes back as sent.
    let response = harness
        .request(reqwest::Method::GET, "/healthz")
        .header("x-request-id", "probe-0001")
        .send()
        .await?;
    assert_eq!(request_id(&response).as_deref(), Some("probe-0001"));

    // Without one, the host makes one, different each time.
    let made = |r: &reqwest::Response| request_id(r).unwrap_or_default();
    let first = harness
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await?;
    let second = harness
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await?;
    assert_eq!(made(&first).len(), 36, "a UUID: {}", made(&first));
    assert_ne!(made(&first), made(&second));

    // An unusable one (too long for a log line) is replaced.
    let long = "x".repeat(500);
    let response = harness
        .request(reqwest::Method::GET, "/healthz")
        .header("x-request-id", &long)
        .send()
        .await?;
    assert!(request_id(&response).is_some_and(|id| id != long));

    // A problem carries the id, to quote to an operator.
    let response = harness
        .request(reqwest::Method::GET, "/v1/customers/nobody/audit")
        .header("x-request-id", "probe-0002")
        .send()
        .await?;
    assert_eq!(response.status(), 404);
    assert_eq!(request_id(&response).as_deref(), Some("probe-0002"));
    let problem: Value = response.json().await?;
    assert_eq!(problem["code"], "unknown_customer");
    assert_eq!(problem["request_id"], "probe-0002");
    Ok(())
}

#[tokio::test]
async fn health_and_readiness_need_no_key() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let http = reqwest::Client::new();

    let live = http.get(format!("{}/healthz", harness.base)).send().await?;
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().await?, "ok");

    let ready = http.get(format!("{}/readyz", harness.base)).send().await?;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await?;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["customers"], 5, "the five example customers: {body}");

    // The dashboard's figures cover every write: it takes no audit filter.
    let narrowed = harness
        .request(
            reqwest::Method::GET,
            "/v1/customers/northwind/dashboard?object=Account",
        )
        .send()
        .await?;
    assert_eq!(narrowed.status(), 400);
    let problem: Value = narrowed.json().await?;
    assert_eq!(problem["field"], "object", "{problem}");

    // The API itself still needs the key.
    let refused = http
        .get(format!("{}/v1/customers/northwind/dashboard", harness.base))
        .send()
        .await?;
    assert_eq!(refused.status(), 401);
    Ok(())
}
