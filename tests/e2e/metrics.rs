//! Prometheus metrics after real writes: the series a scraper finds on
//! `GET /metrics` carry the right labels and values.
//!
//! The recorder is one per process and the tests of this binary run side by
//! side, so this test writes for a customer of its own and reads counters
//! that others may also move as lower bounds.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Value, json};

use conduit_tests::{Harness, config_with_customer, results};

const CUSTOMER: &str = "metricsprobe";

/// One Salesforce customer running the misbehaving test plugin, which
/// panics or refuses when asked to.
fn probe_config() -> anyhow::Result<tempfile::TempDir> {
    let yaml = format!(
        "customer: {CUSTOMER}\ncrm: salesforce\n\
         plugin:\n  name: misbehave-plugin\n  version: 0.1.0\n"
    );
    config_with_customer(CUSTOMER, &yaml)
}

fn company(name: &str, mode: &str) -> Value {
    json!({ "entity": "company", "operation": "upsert", "key": name,
            "fields": { "name": name, "mode": mode } })
}

/// One sample of the text format: its name and labels, and its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(harness: &Harness) -> anyhow::Result<Vec<Sample>> {
    let response = harness
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await?
        .error_for_status()?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Ok(parse(&response.text().await?))
}

#[tokio::test]
async fn metrics_count_writes_crm_calls_and_plugin_calls_with_their_labels() -> anyhow::Result<()> {
    let config = probe_config()?;
    let harness = Harness::start(config.path()).await?;
    let before = scrape(&harness).await?;

    let batch = json!([
        company("Fine One", "none"),
        company("Fine Two", "none"),
        company("Panics", "panic"),
        company("Refuses", "error"),
    ]);
    let answer = harness.write(CUSTOMER, batch).await?;
    let after = scrape(&harness).await?;

    // Writes: exactly the answer's outcomes, per object, for this customer.
    let mut outcomes: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in results(&answer) {
        let object = r["object"]
            .as_str()
            .or(r["entity"].as_str())
            .context("no object")?;
        let status = r["status"].as_str().context("no status")?;
        *outcomes
            .entry((object.to_owned(), status.to_owned()))
            .or_default() += 1.0;
    }
    assert!(
        outcomes.contains_key(&("Account".to_owned(), "created".to_owned())),
        "{answer}"
    );
    assert!(
        outcomes.keys().any(|(_, status)| status == "failed"),
        "{answer}"
    );
    for ((object, outcome), count) in &outcomes {
        let labels = [
            ("customer", CUSTOMER),
            ("object", object),
            ("outcome", outcome),
        ];
        assert_eq!(
            value(&after, "conduit_writes_total", &labels),
            *count,
            "{object} {outcome}"
        );
    }
    let depth = value(
        &after,
        "conduit_write_queue_depth",
        &[("customer", CUSTOMER)],
    );
    assert_eq!(depth, 0.0, "every record was answered");

    // CRM calls: at least those this harness's simulator served, by endpoint.
    let composite = "/services/data/v60.0/composite/sobjects";
    let served = harness
        .salesforce
        .org
        .requests()
        .iter()
        .filter(|r| r.path.split('?').next() == Some(composite) && r.status == 200)
        .count() as f64;
    assert!(served >= 1.0, "the simulator served no composite call");
    let labels = [
        ("provider", "salesforce"),
        ("endpoint", composite),
        ("status", "200"),
    ];
    let calls = value(&after, "conduit_crm_calls_total", &labels)
        - value(&before, "conduit_crm_calls_total", &labels);
    assert!(calls >= served, "{calls} counted, {served} served");
    let timed = [("provider", "salesforce"), ("endpoint", composite)];
    assert!(value(&after, "conduit_crm_call_duration_seconds_count", &timed) >= served);

    // Plugin calls by outcome, and the trap by its reason.
    let plugin = [("plugin", "misbehave-plugin"), ("version", "0.1.0")];
    for outcome in ["ok", "trapped", "rejected"] {
        let labels = [plugin[0], plugin[1], ("outcome", outcome)];
        let moved = value(&after, "conduit_plugin_calls_total", &labels)
            - value(&before, "conduit_plugin_calls_total", &labels);
        assert!(moved >= 1.0, "no `{outcome}` plugin call counted");
    }
    let labels = [plugin[0], plugin[1], ("reason", "panic")];
    let traps = value(&after, "conduit_plugin_traps_total", &labels)
        - value(&before, "conduit_plugin_traps_total", &labels);
    assert!(traps >= 1.0, "the panic was not counted as a trap");
    let timed = [("plugin", "misbehave-plugin")];
    assert!(value(&after, "conduit_plugin_call_duration_seconds_count", &timed) >= 3.0);
    Ok(())
}
