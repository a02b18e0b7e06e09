//! The demo's activity stage: for every customer, a call and a meeting per
//! deal for the first deals of the dataset, each request carrying the deal
//! and its company with the activities that relate to them. Each activity
//! lands in the customer's own pattern (Task, Event, a custom object, a
//! HubSpot engagement), owned by the deal's rep and linked to the deal the
//! same request writes, or finds, first.

use futures::stream::{self, StreamExt};
use serde_json::{Value, json};

use super::summary::PassSummary;
use super::{Agent, DemoOptions, dataset};

/// Deals that get activities, per customer.
pub const DEALS: usize = 100;

/// Deals per request: each brings its company and two activities.
const DEALS_PER_REQUEST: usize = 25;

/// Logs the activities for `customer` and sums up their results.
pub(super) async fn log(
    client: &Agent,
    customer: &str,
    data: &dataset::Dataset,
    options: &DemoOptions,
) -> anyhow::Result<PassSummary> {
    let bodies = requests(data, customer);
    let answers: Vec<anyhow::Result<Value>> = stream::iter(bodies)
        .map(|body| client.send(customer, body))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let mut summary = PassSummary::default();
    for answer in answers {
        let answer = answer?;
        for result in answer["activities"].as_array().into_iter().flatten() {
            summary.add(result);
        }
    }
    Ok(summary)
}

/// The request bodies: deals whose company is nobody's subsidiary, with
/// that company, a call and a meeting.
fn requests(data: &dataset::Dataset, customer: &str) -> Vec<Value> {
    let domain = format!("{customer}.example");
    let company = |name: &str| {
        data.parents
            .iter()
            .find(|c| c["key"].as_str() == Some(name))
            .cloned()
    };
    let chosen = data.deals.iter().filter_map(|(deal, rep)| {
        let account = deal.pointer("/fields/account")?.as_str()?;
        let rep = data.reps.get(rep)?.email(&domain);
        Some((deal, company(account)?, rep))
    });

    let mut bodies = Vec::new();
    let mut body = empty();
    for (n, (deal, company, rep)) in chosen.take(DEALS).enumerate() {
        let key = deal["key"].as_str().unwrap_or_default();
        let account = company["key"].as_str().unwrap_or_default().to_owned();
        let day = deal
            .pointer("/fields/close_date")
            .and_then(Value::as_str)
            .unwrap_or("2017-06-30");
        let related = json!([
            {"entity": "deal", "key": key},
            {"entity": "company", "key": account},
        ]);
        push(&mut body, "records", with_rep(company, &rep));
        push(&mut body, "records", with_rep(deal.clone(), &rep));
        push(
            &mut body,
            "activities",
            json!({
                "kind": "call", "subtype": "Discovery Call", "outcome": "Connected",
                "subject": format!("Discovery call with {account}"),
                "occurred_at": format!("{day}T15:00:00Z"), "duration_seconds": 1200,
                "direction": "outbound", "related": related, "acting_for": rep,
                "idempotency_key": format!("demo-call-{key}"),
            }),
        );
        push(
            &mut body,
            "activities",
            json!({
                "kind": "meeting", "subtype": "Demo",
                "subject": format!("Demo for {account}"),
                "occurred_at": format!("{day}T17:00:00Z"), "duration_seconds": 2700,
                "related": related, "acting_for": rep,
                "idempotency_key": format!("demo-meeting-{key}"),
            }),
        );
        if (n + 1) % DEALS_PER_REQUEST == 0 {
            bodies.push(std::mem::replace(&mut body, empty()));
        }
    }
    if body["activities"].as_array().is_some_and(|a| !a.is_empty()) {
        bodies.push(body);
    }
    bodies
}

fn empty() -> Value {
    json!({ "records": [], "activities": [] })
}

fn push(body: &mut Value, list: &str, item: Value) {
    if let Some(items) = body[list].as_array_mut() {
        items.push(item);
    }
}

fn with_rep(mut record: Value, rep: &str) -> Value {
    record["acting_for"] = json!(rep);
    record
}
