//! Webhook delivery: every change POSTed to each of the customer's
//! webhooks that takes its entity, signed, retried with exponential
//! backoff, and dead-lettered after the webhook's attempt limit.
//!
//! # Verifying a delivery
//!
//! Each request carries:
//!
//! - `Conduit-Delivery`: the delivery's id (the same on every retry);
//! - `Conduit-Timestamp`: when this attempt was signed, in Unix seconds;
//! - `Conduit-Signature`: `v1=` and the lowercase hex HMAC-SHA256, keyed
//!   with the webhook's secret, of the timestamp, a `.`, and the raw body.
//!
//! A receiver recomputes the HMAC over `{timestamp}.{body}` with its copy
//! of the secret, compares in constant time, and refuses a timestamp far
//! from its own clock (five minutes, say) so a captured request cannot be
//! replayed later. Any 2xx answer takes the delivery; anything else, or no
//! answer within ten seconds, is retried.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tracing::{debug, info, warn};

use crate::config::Webhook;
use crate::pipeline::Pipeline;
use crate::store::{Attempt, Claimed, timestamp};

/// The delivery's id.
pub const DELIVERY_HEADER: &str = "Conduit-Delivery";
/// When the attempt was signed, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "Conduit-Timestamp";
/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.
pub const SIGNATURE_HEADER: &str = "Conduit-Signature";

/// How often the sender looks for due deliveries.
const POLL: Duration = Duration::from_millis(250);
/// How long a claim keeps other senders off a delivery.
const LEASE: Duration = Duration::from_secs(60);
/// How long a receiver has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Deliveries claimed at a time.
const CLAIM: i64 = 20;
/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(3600);

type HmacSha256 = Hmac<Sha256>;

/// The `Conduit-Signature` value of `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `signature` is `body`'s at `timestamp` under `secret`, compared
/// in constant time: what a receiver checks.
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The wait before attempt `made + 1`, after `made` failed attempts:
/// `first`, doubled after each further failure, at most an hour.
pub fn backoff(first: Duration, made: u32) -> Duration {
    let doublings = made.saturating_sub(1).min(20);
    first.saturating_mul(1 << doublings).min(MAX_WAIT)
}

/// Sends due deliveries in the background until the task is aborted or
/// the runtime stops.
pub fn spawn(pipeline: Arc<Pipeline>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder().timeout(ANSWER_WITHIN).build() {
            Ok(http) => http,
            Err(e) => {
                warn!(error = %e, "webhook delivery cannot start: no HTTP client");
                return;
            }
        };
        info!("webhook delivery started");
        loop {
            match deliver_due(&pipeline, &http).await {
                Ok(0) => tokio::time::sleep(POLL).await,
                Ok(sent) => debug!(sent, "webhook deliveries attempted"),
                Err(e) => {
                    warn!(error = %format!("{e:#}"), "webhook delivery failed");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    })
}

/// Claims the deliveries due now and attempts each once; returns how many
/// were attempted.
pub async fn deliver_due(pipeline: &Pipeline, http: &reqwest::Client) -> anyhow::Result<usize> {
    let now = Utc::now();
    let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let claimed = pipeline
        .store()
        .claim_deliveries(&timestamp(now), &timestamp(lease), CLAIM)
        .await?;
    for delivery in &claimed {
        let attempt = attempt(pipeline, http, delivery).await;
        if let Attempt::Failed {
            status,
            error,
            retry_at,
        } = &attempt
        {
            let dead = retry_at.is_none();
            warn!(
                customer = %delivery.customer,
                delivery = delivery.id,
                ?status,
                error,
                dead,
                "webhook delivery failed"
            );
        }
        pipeline
            .store()
            .finish_delivery(delivery.id, &attempt, &timestamp(Utc::now()))
            .await?;
    }
    Ok(claimed.len())
}

/// One attempt at one delivery.
async fn attempt(pipeline: &Pipeline, http: &reqwest::Client, delivery: &Claimed) -> Attempt {
    let hook = pipeline
        .config(&delivery.customer)
        .and_then(|c| c.webhooks.iter().find(|w| w.url == delivery.url).cloned());
    let Some(hook) = hook else {
        return Attempt::Failed {
            status: None,
            error: "the customer's config no longer has this webhook".into(),
            retry_at: None,
        };
    };
    let failed = |status: Option<i64>, error: String| {
        let made = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
        let retry_at = (made < hook.max_attempts).then(|| {
            let wait =
                chrono::Duration::from_std(backoff(hook.first_retry, made)).unwrap_or_default();
            timestamp(Utc::now() + wait)
        });
        Attempt::Failed {
            status,
            error,
            retry_at,
        }
    };
    match send(pipeline, http, &hook, delivery).await {
        Ok(status) if (200..300).contains(&status) => Attempt::Delivered,
        Ok(status) => failed(Some(status), format!("the receiver answered {status}")),
        Err(e) => failed(None, format!("{e:#}")),
    }
}

/// POSTs the delivery's change, signed; the receiver's status.
async fn send(
    pipeline: &Pipeline,
    http: &reqwest::Client,
    hook: &Webhook,
    delivery: &Claimed,
) -> anyhow::Result<i64> {
    let change = pipeline
        .store()
        .change(&delivery.customer, delivery.change_id)
        .await?
        .context("the change this delivery carries is gone")?;
    let secret = hook.secret.resolve().map_err(anyhow::Error::msg)?;
    let body = serde_json::to_vec(&json!({ "customer": delivery.customer, "change": change }))
        .context("encoding the change")?;
    let signed_at = Utc::now().timestamp();
    let response = http
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(TIMESTAMP_HEADER, signed_at.to_string())
        .header(SIGNATURE_HEADER, sign(&secret, signed_at, &body))
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending to {}", hook.url))?;
    Ok(i64::from(response.status().as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_time_and_body() {
        let signature = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(signature.starts_with("v1="));
        assert!(verify("s3cret", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("other", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_700_000_001, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"a\":2}", &signature));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"a\":1}", "v2=00"));
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Computed independently: printf '1.x' | openssl dgst -sha256 -hmac k
        assert_eq!(
            sign("k", 1, b"x"),
            "v1=976cb87e4f568d1c0f03f32859e90af8597cf00b978ba37c229c97d3a15b8449"
        );
    }

    #[test]
    fn waits_double_from_the_first_up_to_an_hour() {
        let first = Duration::from_millis(100);
        assert_eq!(backoff(first, 1), Duration::from_millis(100));
        assert_eq!(backoff(first, 2), Duration::from_millis(200));
        assert_eq!(backoff(first, 4), Duration::from_millis(800));
        assert_eq!(backoff(Duration::from_secs(600), 9), MAX_WAIT);
    }
}
