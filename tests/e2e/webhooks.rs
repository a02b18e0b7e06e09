//! Webhook delivery of the change feed: a receiver that checks each
//! request's HMAC signature, failing attempts retried with backoff, a
//! delivery dead-lettered after its limit and replayed, and a replay of the
//! feed from a cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use conduit_host::sync::webhooks::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use conduit_tests::Harness;

use crate::reads::run_reads;

const SECRET: &str = "whsec-test-only";

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    /// Requests to refuse with 500 before accepting.
    fail: AtomicUsize,
    /// Requests whose signature verified.
    verified: AtomicUsize,
    /// Requests whose signature did not.
    forged: AtomicUsize,
    /// Requests accepted.
    accepted: AtomicUsize,
    /// The accepted bodies.
    bodies: std::sync::Mutex<Vec<Value>>,
}

/// Serves the receiver on loopback; its URL.
async fn receiver(state: Arc<Receiver>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let at: i64 = header(TIMESTAMP_HEADER).parse().unwrap_or_default();
                let fresh = (chrono_now() - at).abs() < 300;
                if fresh && verify(SECRET, at, &body, &header(SIGNATURE_HEADER)) {
                    state.verified.fetch_add(1, Ordering::SeqCst);
                } else {
                    state.forged.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::UNAUTHORIZED;
                }
                let refuse = state
                    .fail
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if refuse {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                state.accepted.fetch_add(1, Ordering::SeqCst);
                if let Ok(value) = serde_json::from_slice(&body)
                    && let Ok(mut bodies) = state.bodies.lock()
                {
                    bodies.push(value);
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn start(url: &str, max_attempts: u32) -> anyhow::Result<(Harness, tempfile::TempDir)> {
    let customer = format!(
        "customer: hooked\ncrm: salesforce\nwebhooks:\n  - url: {url}\n    secret: {SECRET}\n    \
         entities: [company]\n    max_attempts: {max_attempts}\n    first_retry_ms: 50\n"
    );
    let dir = conduit_tests::config_with_customer("hooked", &customer)?;
    let harness = Harness::start(dir.path()).await?;
    Ok((harness, dir))
}

/// A company made in the CRM, read into the feed.
async fn company_changed(harness: &Harness, name: &str) -> anyhow::Result<String> {
    let mut fields = Map::new();
    fields.insert("Name".into(), json!(name));
    let id = harness.salesforce.org.insert("Account", fields);
    run_reads(harness, "hooked").await?;
    Ok(id)
}

async fn deliveries(harness: &Harness, state: &str) -> anyhow::Result<Vec<Value>> {
    let path = format!("/v1/customers/hooked/webhooks/deliveries?state={state}");
    let answer: Value = harness
        .request(reqwest::Method::GET, &path)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["deliveries"].as_array().cloned().unwrap_or_default())
}

/// Waits until `done` holds, checking every 50 ms for at most 15 s.
async fn until(mut done: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    for _ in 0..300 {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("gave up waiting")
}

#[tokio::test]
async fn a_signed_delivery_is_retried_until_the_receiver_takes_it() -> anyhow::Result<()> {
    let state = Arc::new(Receiver::default());
    state.fail.store(2, Ordering::SeqCst);
    let url = receiver(state.clone()).await?;
    let (harness, _dir) = start(&url, 5).await?;

    let id = company_changed(&harness, "Hooked Retry").await?;
    until(async || Ok(state.accepted.load(Ordering::SeqCst) >= 1)).await?;

    assert_eq!(state.forged.load(Ordering::SeqCst), 0);
    let bodies = state.bodies.lock().map(|b| b.clone()).unwrap_or_default();
    let ours: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["change"]["crm_id"] == id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{bodies:?}");
    assert_eq!(ours[0]["customer"], "hooked");
    assert_eq!(ours[0]["change"]["fields"]["name"], "Hooked Retry");

    let delivered = deliveries(&harness, "delivered").await?;
    let cursor = ours[0]["change"]["cursor"].clone();
    let delivery = delivered
        .iter()
        .find(|d| d["change"] == cursor)
        .cloned()
        .unwrap_or_default();
    // Two refusals, then the receiver took it: three attempts, each signed.
    assert!(delivery["attempts"].as_i64() >= Some(3), "{delivered:?}");
    assert!(state.verified.load(Ordering::SeqCst) >= 3);
    Ok(())
}

#[tokio::test]
async fn a_delivery_is_dead_after_its_limit_and_replays() -> anyhow::Result<()> {
    let state = Arc::new(Receiver::default());
    state.fail.store(usize::MAX, Ordering::SeqCst);
    let url = receiver(state.clone()).await?;
    let (harness, _dir) = start(&url, 3).await?;

    let id = company_changed(&harness, "Hooked Dead").await?;
    let mut dead = Vec::new();
    until(async || {
        dead = deliveries(&harness, "dead").await?;
        Ok(!dead.is_empty())
    })
    .await?;
    let delivery = &dead[0];
    assert_eq!(delivery["attempts"], 3, "{delivery}");
    assert_eq!(delivery["last_status"], 500, "{delivery}");
    assert_eq!(state.accepted.load(Ordering::SeqCst), 0);

    // The receiver is fixed; CS replays the dead delivery.
    state.fail.store(0, Ordering::SeqCst);
    let path = format!(
        "/v1/customers/hooked/webhooks/deliveries/{}/replay",
        delivery["id"]
    );
    let replayed = harness.request(reqwest::Method::POST, &path).send().await?;
    assert_eq!(replayed.status(), reqwest::StatusCode::ACCEPTED);
    until(async || Ok(state.accepted.load(Ordering::SeqCst) >= 1)).await?;
    assert!(deliveries(&harness, "dead").await?.is_empty());

    // Replaying the feed from before the change sends it once more.
    let before = "0000000000000000";
    let path = format!("/v1/customers/hooked/webhooks/replay?after={before}");
    let answer: Value = harness
        .request(reqwest::Method::POST, &path)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert!(answer["enqueued"].as_u64() >= Some(1), "{answer}");
    until(async || Ok(state.accepted.load(Ordering::SeqCst) >= 2)).await?;
    let bodies = state.bodies.lock().map(|b| b.clone()).unwrap_or_default();
    let ours = bodies
        .iter()
        .filter(|b| b["change"]["crm_id"] == id.as_str())
        .count();
    assert_eq!(ours, 2, "{bodies:?}");
    assert_eq!(state.forged.load(Ordering::SeqCst), 0);

    let missing = harness
        .request(
            reqwest::Method::POST,
            "/v1/customers/hooked/webhooks/deliveries/999999/replay",
        )
        .send()
        .await?;
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    Ok(())
}
