//! `conduit demo`: the whole write path on the embedded defaults.
//!
//! Starts the Salesforce and HubSpot simulators on loopback, builds the
//! customers' plugins from source, starts the host on SQLite in a temporary
//! directory, and replays the public sales dataset through the HTTP API as
//! an agent would: companies, then deals acting for their reps. It runs the
//! dataset twice: the second pass must find everything up to date. Then
//! every customer logs calls and meetings in its own activity pattern.

mod activities;
mod contents;
mod dataset;
mod summary;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};

pub use activities::DEALS as ACTIVITY_DEALS;
pub use contents::OrgContents;
pub use dataset::{Rep, load_reps};
pub use summary::{PassSummary, render_decisions};

use crate::api::{self, AppState};
use crate::config::{ConfigSet, CustomerConfig, Provider};
use crate::pipeline::Pipeline;
use crate::plugin::{PluginRuntime, RuntimeConfig, build_plugin};
use crate::secrets::SecretKey;
use crate::store::Store;
use conduit_crm_sim::{Sim, hubspot, salesforce};

/// What the demo runs on.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory with `integration.yaml`, `customers/` and `data/`.
    pub examples: PathBuf,
    /// Records per API request.
    pub batch: usize,
    /// Requests in flight per customer.
    pub concurrency: usize,
    /// The customers the whole dataset is replayed for; every customer, if
    /// empty. Every customer logs the activity stage's calls and meetings.
    pub customers: Vec<String>,
}

/// What the demo did, per customer and pass.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// `(customer, crm, pass name, summary)` in the order run.
    pub passes: Vec<(String, String, String, PassSummary)>,
    /// Records answered from stored outcomes when a batch was sent again.
    pub replayed: usize,
    /// CRM calls that replay made: none, when idempotency holds.
    pub replay_crm_calls: u64,
    /// `(customer, what its org holds)` after both passes.
    pub contents: Vec<(String, OrgContents)>,
}

/// The checkout's root, where `examples/` and `plugins/` are.
pub fn workspace_root() -> PathBuf {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    host.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| host.to_path_buf())
}

/// `examples/` in the checkout.
pub fn default_examples_dir() -> PathBuf {
    workspace_root().join("examples")
}

/// Runs the demo and prints its report.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let report = run_demo(&options).await?;
    for (customer, crm, pass, summary) in &report.passes {
        println!("{}", summary.render(customer, crm, pass));
        if let Some(sample) = summary.sample.as_ref().filter(|_| pass == "pass 1") {
            println!("  one deal's field decisions (field, decision, reason, source, value):");
            println!("{}", render_decisions(sample));
        }
    }
    println!(
        "idempotency: a batch sent again with its keys: {} records replayed, {} CRM calls",
        report.replayed, report.replay_crm_calls
    );
    for (customer, contents) in &report.contents {
        println!("{customer}'s org now holds {contents}");
    }
    let failed: usize = report.passes.iter().map(|p| p.3.failed).sum();
    if failed > 0 {
        println!("{failed} records failed; each failure above names its code and cause");
    }
    Ok(())
}

/// Runs the demo and returns what it did, without printing.
pub async fn run_demo(options: &DemoOptions) -> anyhow::Result<DemoReport> {
    // 1. The dataset and the customers' configs.
    let data = dataset::load(&options.examples.join("data"))?;
    let configs = ConfigSet::load_dir(&options.examples)?;
    let customers: Vec<_> = configs.customers().cloned().collect();
    if customers.is_empty() {
        bail!("no customers in {}", options.examples.display());
    }

    // 2. One simulated org per customer, with the reps as users or owners.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut orgs = Vec::with_capacity(customers.len());
    for config in &customers {
        let domain = format!("{}.example", config.customer);
        let org = Org::start(config.provider, loopback).await?;
        for rep in data.reps.values() {
            org.add_rep(&rep.email(&domain), &rep.first, &rep.last);
        }
        orgs.push(org);
    }

    // 3. The plugins, built from source.
    let mut plugins = BTreeMap::new();
    for config in &customers {
        if let Some(plugin) = &config.plugin {
            let path = build_plugin(&workspace_root(), &plugin.name)
                .with_context(|| format!("building plugin `{}`", plugin.name))?;
            let wasm =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            plugins.insert((plugin.name.clone(), plugin.version.clone()), wasm);
        }
    }

    // 4. The host, on SQLite in a temporary directory.
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    // The demo's store lives as long as the run: a key of its own will do.
    let store = Store::open_sqlite(&dir.path().join("conduit.db"), SecretKey::ephemeral()).await?;
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let pipeline = Arc::new(Pipeline::new(configs, store, runtime).await?);
    let listener = tokio::net::TcpListener::bind(loopback)
        .await
        .context("binding the host")?;
    let base = format!("http://{}", listener.local_addr()?);
    let api_key = uuid::Uuid::new_v4().to_string();
    let state = AppState {
        pipeline,
        api_key: Some(api_key.clone().into()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let client = Agent {
        http: reqwest::Client::new(),
        base,
        api_key,
    };

    // 5. Connections and plugins, through the API as an operator would.
    for (config, org) in customers.iter().zip(&orgs) {
        let (base_url, oauth) = org.credentials();
        let credentials = json!({
            "base_url": base_url,
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "refresh_token": oauth.refresh_token,
        });
        let path = format!("/v1/customers/{}/connection", config.customer);
        client.put_json(&path, &credentials).await?;
    }
    for ((name, version), wasm) in plugins {
        client
            .put_bytes(&format!("/v1/plugins/{name}/{version}"), wasm)
            .await?;
    }

    // 6. Two passes of the whole dataset, the replayed customers at once.
    let replayed: Vec<_> = customers
        .iter()
        .zip(&orgs)
        .filter(|(config, _)| {
            options.customers.is_empty() || options.customers.contains(&config.customer)
        })
        .collect();
    for wanted in &options.customers {
        if !customers.iter().any(|c| &c.customer == wanted) {
            bail!(
                "customer `{wanted}` is not in {}",
                options.examples.display()
            );
        }
    }
    let mut report = DemoReport::default();
    for pass in ["pass 1", "pass 2"] {
        let runs = replayed.iter().map(|&(config, org)| {
            let client = &client;
            let data = &data;
            async move {
                let before = org.request_count();
                let started = Instant::now();
                let mut summary = send_pass(client, &config.customer, data, pass, options).await?;
                summary.elapsed = started.elapsed();
                summary.crm_calls = org.request_count() - before;
                Ok::<_, anyhow::Error>((
                    config.customer.clone(),
                    config.provider.to_string(),
                    pass.to_owned(),
                    summary,
                ))
            }
        });
        for run in futures::future::join_all(runs).await {
            report.passes.push(run?);
        }
    }

    // 7. Calls and meetings for every customer, in its own pattern.
    for (config, org) in customers.iter().zip(&orgs) {
        let before = org.request_count();
        let started = Instant::now();
        let mut summary = activities::log(&client, &config.customer, &data, options).await?;
        summary.elapsed = started.elapsed();
        summary.crm_calls = org.request_count() - before;
        let crm = config.provider.to_string();
        let stage = (
            config.customer.clone(),
            crm,
            "activities".to_owned(),
            summary,
        );
        report.passes.push(stage);
    }

    // 8. The same batch again, same keys: answered from the store.
    if let Some(&(config, org)) = replayed.first() {
        let batch = intents(&data, &config.customer, "pass 2")
            .into_iter()
            .take(options.batch)
            .collect::<Vec<_>>();
        let before = org.request_count();
        let answer = client.write(&config.customer, batch).await?;
        report.replay_crm_calls = org.request_count() - before;
        report.replayed = answer
            .iter()
            .filter(|r| r.get("replayed").and_then(Value::as_bool) == Some(true))
            .count();
    }

    // 9. What the orgs hold now, read from the simulators themselves.
    for (config, org) in customers.iter().zip(&orgs) {
        report
            .contents
            .push((config.customer.clone(), org.contents(config)));
    }

    let _ = stop.send(());
    server
        .await
        .context("joining the host")?
        .context("serving the host")?;
    for org in orgs {
        org.shutdown().await;
    }
    Ok(report)
}

/// A customer's simulated CRM.
enum Org {
    Salesforce(Sim<salesforce::Org>),
    Hubspot(Sim<hubspot::Org>),
}

impl Org {
    async fn start(provider: Provider, addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(match provider {
            Provider::Salesforce => {
                Org::Salesforce(salesforce::serve(salesforce::Profile::default(), addr).await?)
            }
            Provider::Hubspot => {
                Org::Hubspot(hubspot::serve(hubspot::Profile::default(), addr).await?)
            }
        })
    }

    /// Makes the rep a Salesforce user or a HubSpot owner.
    fn add_rep(&self, email: &str, first: &str, last: &str) {
        match self {
            Org::Salesforce(sim) => drop(sim.org.add_user(email, first, last)),
            Org::Hubspot(sim) => drop(sim.org.add_owner(email, first, last)),
        }
    }

    /// The org's base URL and the integration's OAuth client.
    fn credentials(&self) -> (String, conduit_crm_sim::OAuthClient) {
        match self {
            Org::Salesforce(sim) => (sim.base_url.clone(), sim.org.oauth_client()),
            Org::Hubspot(sim) => (sim.base_url.clone(), sim.org.oauth_client()),
        }
    }

    /// API requests the org has served.
    fn request_count(&self) -> u64 {
        match self {
            Org::Salesforce(sim) => sim.org.request_count(),
            Org::Hubspot(sim) => sim.org.request_count(),
        }
    }

    fn contents(&self, config: &CustomerConfig) -> OrgContents {
        let mut activity_objects: Vec<&str> = config
            .entities
            .values()
            .filter(|e| e.entity.starts_with(crate::record::ACTIVITY_PREFIX))
            .map(|e| e.object.as_str())
            .collect();
        activity_objects.sort();
        activity_objects.dedup();
        match self {
            Org::Salesforce(sim) => contents::salesforce(sim, &activity_objects),
            Org::Hubspot(sim) => contents::hubspot(sim, &activity_objects),
        }
    }

    async fn shutdown(self) {
        match self {
            Org::Salesforce(sim) => sim.shutdown().await,
            Org::Hubspot(sim) => sim.shutdown().await,
        }
    }
}

/// Every intent of one pass, in the order an agent sends them: parent
/// companies, subsidiaries, then deals.
fn intents(data: &dataset::Dataset, customer: &str, pass: &str) -> Vec<Value> {
    let domain = format!("{customer}.example");
    let run = pass.replace(' ', "");
    let keyed = |mut intent: Value| {
        let entity = intent["entity"].as_str().unwrap_or("").to_owned();
        let key = intent["key"].as_str().unwrap_or("").to_owned();
        intent["idempotency_key"] = format!("{run}-{entity}-{key}").into();
        intent
    };
    let mut all: Vec<Value> = data.parents.iter().cloned().map(keyed).collect();
    all.extend(data.subsidiaries.iter().cloned().map(keyed));
    all.extend(data.deals.iter().map(|(intent, rep)| {
        let mut intent = keyed(intent.clone());
        if let Some(rep) = data.reps.get(rep) {
            intent["acting_for"] = rep.email(&domain).into();
        }
        intent
    }));
    all
}

/// Sends one pass for one customer: waves in order, batches within a wave
/// in parallel.
async fn send_pass(
    client: &Agent,
    customer: &str,
    data: &dataset::Dataset,
    pass: &str,
    options: &DemoOptions,
) -> anyhow::Result<PassSummary> {
    let all = intents(data, customer, pass);
    let parents = data.parents.len();
    let subsidiaries = data.subsidiaries.len();
    let waves = [
        &all[..parents],
        &all[parents..parents + subsidiaries],
        &all[parents + subsidiaries..],
    ];

    let mut summary = PassSummary::default();
    for wave in waves {
        let answers: Vec<anyhow::Result<Vec<Value>>> =
            stream::iter(wave.chunks(options.batch.max(1)))
                .map(|chunk| client.write(customer, chunk.to_vec()))
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        for answer in answers {
            for result in answer? {
                summary.add(&result);
            }
        }
    }
    Ok(summary)
}

/// The demo's agent: an HTTP client of the host's API.
struct Agent {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

impl Agent {
    /// Sends a whole request body and returns the host's answer.
    async fn send(&self, customer: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}/v1/customers/{customer}/writes", self.base);
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("sending a request for {customer}"))?;
        let status = response.status();
        let body: Value = response.json().await.context("reading the host's answer")?;
        if !status.is_success() {
            bail!("host answered {status} for {customer}: {body}");
        }
        Ok(body)
    }

    async fn write(&self, customer: &str, records: Vec<Value>) -> anyhow::Result<Vec<Value>> {
        let body = self.send(customer, json!({ "records": records })).await?;
        Ok(body
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    async fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "PUT {path}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn put_bytes(&self, path: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .header("content-type", "application/wasm")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "PUT {path}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}
