//! One batch of write intents, through every stage: idempotency, mapping,
//! plugin, schema check, matching, owner, export plan, CRM, audit.
//!
//! Each record succeeds or fails on its own: a bad record gets its own error
//! and the rest of the batch goes on.

mod activity;
mod audit;
mod customer;
pub mod deferral;
mod dispatch;
mod execute;
mod graphs;
mod idempotency;
mod intake;
mod links;
mod locks;
mod matching;
mod order;
mod pending;
mod planning;
mod plugins;
mod prepare;
mod result;
mod sending;
mod worker;
mod writers;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tracing::info;

pub use activity::{ACTIVITY_FIELDS, ActivityIntent, RelatedInput, into_intent};
pub use customer::CustomerRuntime;
pub use result::{LIMIT_REACHED, Link, RecordError, RecordResult, Status};
pub use worker::{Worker, WorkerOptions};

use crate::auth;
use crate::auth::Credentials;
use crate::config::{ConfigSet, CustomerConfig, Provider};
use crate::lifecycle::Registry;
use crate::plugin::PluginRuntime;
use crate::record::{Activity, Fields, Operation};
use crate::store::{Grant, GrantSecrets, OAuthFlow, ORG, Store, StoredAccess};

/// One write intent as the agent sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteIntent {
    /// The agent entity: `company`, `deal`, … as the config maps them.
    pub entity: String,
    /// `create`, `update` or `upsert`.
    pub operation: Operation,
    /// The record's key: matched against the entity's `match` field.
    #[serde(default)]
    pub key: Option<String>,
    /// The agent's fields.
    #[serde(default)]
    pub fields: Fields,
    /// The email of the rep the agent acts for.
    #[serde(default)]
    pub acting_for: Option<String>,
    /// Sending the same key again returns the first outcome, never a second
    /// write.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// For an activity, what the agent sent, as the plugin's `map-activity`
    /// sees it; none for a record. Not part of a record's JSON.
    #[serde(skip)]
    pub activity: Option<Box<Activity>>,
}

/// The host's write path and the state it needs.
pub struct Pipeline {
    configs: RwLock<Arc<ConfigSet>>,
    store: Store,
    registry: Arc<Registry>,
    customers: tokio::sync::Mutex<HashMap<String, Arc<CustomerRuntime>>>,
    http: reqwest::Client,
    key_locks: Arc<locks::KeyLocks>,
    intake: IntakeState,
}

/// This replica's part in durable intake.
struct IntakeState {
    /// The name its claims carry: unique per process.
    worker: String,
    /// How long a claim holds without being renewed.
    lease: std::time::Duration,
    /// Wakes the worker when a job is submitted.
    wake: tokio::sync::Notify,
}

/// How long a claim holds unless renewed: long enough that a replica
/// renewing every third of it never loses one, short enough that the
/// intents of a replica that stopped resume soon.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl Pipeline {
    /// A pipeline over `configs` and `store`, loading every plugin the store
    /// holds.
    pub async fn new(
        configs: ConfigSet,
        store: Store,
        runtime: PluginRuntime,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let pipeline = Self {
            configs: RwLock::new(Arc::new(configs)),
            store: store.clone(),
            registry: Registry::open(runtime, store.clone()).await?,
            customers: tokio::sync::Mutex::new(HashMap::new()),
            http,
            key_locks: Arc::default(),
            intake: IntakeState {
                worker: format!(
                    "{}-{}",
                    std::process::id(),
                    hex::encode(rand::random::<[u8; 4]>())
                ),
                lease: DEFAULT_LEASE,
                wake: tokio::sync::Notify::new(),
            },
        };
        Ok(pipeline)
    }

    /// The same pipeline with claims that hold for `lease` unless renewed:
    /// how soon another replica resumes the intents of one that stopped.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.intake.lease = lease;
        self
    }

    /// The name this replica's claims carry.
    pub fn worker_name(&self) -> &str {
        &self.intake.worker
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A customer's effective config: its plugin at the version an
    /// activation pins, when one does.
    pub fn config(&self, customer: &str) -> Option<Arc<CustomerConfig>> {
        let config = self.configs.read().ok()?.customer(customer)?;
        Some(self.registry.effective(config))
    }

    /// The names of the customers whose config is loaded, sorted.
    pub fn customer_names(&self) -> Vec<String> {
        let Ok(configs) = self.configs.read() else {
            return Vec::new();
        };
        let mut names: Vec<String> = configs.customers().map(|c| c.customer.clone()).collect();
        names.sort();
        names
    }

    /// Every loaded customer with the task intervals its config sets, for
    /// the scheduler.
    pub fn scheduled_customers(&self) -> Vec<crate::schedule::CustomerTasks> {
        self.customer_names()
            .iter()
            .filter_map(|name| self.config(name))
            .map(|config| crate::schedule::CustomerTasks::from(config.as_ref()))
            .collect()
    }

    /// The plugins, their versions and what each customer runs.
    pub fn plugins(&self) -> &Registry {
        &self.registry
    }

    /// Checks a customer's connection by obtaining a token with it, saves it
    /// and drops any client built on the old one.
    ///
    /// Fails with a [`crate::auth::TokenError`] when the CRM refuses the
    /// credentials or cannot be reached; the old connection then stays.
    pub async fn connect(
        &self,
        customer: &str,
        provider: Provider,
        credentials: Credentials,
    ) -> anyhow::Result<()> {
        let credentials = crate::auth::verify(&self.http, provider, credentials).await?;

        self.store
            .put_grant(&Grant::org(customer, &provider.to_string(), credentials))
            .await?;
        self.customers.lock().await.remove(customer);
        Ok(())
    }

    /// Starts a rep's authorization-code flow: the URL the rep opens to
    /// grant access, at the CRM of the customer's org-wide connection.
    pub async fn authorize_rep(
        &self,
        config: &CustomerConfig,
        email: &str,
        redirect_uri: &str,
    ) -> Result<String, RecordError> {
        let org = self.org_grant(config).await?;
        let state = hex::encode(rand::random::<[u8; 24]>());
        let flow = OAuthFlow {
            customer: config.customer.clone(),
            subject: email.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
        };
        self.store
            .put_oauth_state(&state, &flow)
            .await
            .map_err(|e| RecordError::input("store_unavailable", format!("{e:#}"), None))?;
        Ok(auth::authorize_url(
            config.provider,
            &org.base_url,
            &org.client_id,
            redirect_uri,
            &state,
            email,
        ))
    }

    /// Finishes an authorization-code flow: exchanges the code with the
    /// org's app and stores the rep's connection. Returns the flow's
    /// customer and rep.
    pub async fn finish_rep_authorization(
        &self,
        state: &str,
        code: &str,
    ) -> Result<OAuthFlow, RecordError> {
        let store_error = |e: anyhow::Error| {
            RecordError::input("store_unavailable", format!("{e:#}"), None).retryable()
        };
        let flow = self
            .store
            .take_oauth_state(state)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                RecordError::input(
                    "unknown_state",
                    "this authorization link is unknown, used or older than ten minutes; \
                     start again"
                        .into(),
                    Some("state".into()),
                )
            })?;
        let config = self.config(&flow.customer).ok_or_else(|| {
            RecordError::input("unknown_customer", "the customer is gone".into(), None)
        })?;
        let org = self.org_grant(&config).await?;

        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", org.client_id.as_str()),
            ("client_secret", org.secrets.client_secret.as_str()),
            ("redirect_uri", flow.redirect_uri.as_str()),
        ];
        let answer = auth::token_grant(&self.http, config.provider, &org.base_url, &form)
            .await
            .map_err(|e| {
                RecordError::input("authorization_refused", e.to_string(), Some("code".into()))
            })?;
        self.check_granted_by(&config, &flow.subject, &org.base_url, &answer)
            .await?;
        let access = answer.access(config.provider, &org.base_url);
        let grant = Grant {
            subject: flow.subject.clone(),
            secrets: GrantSecrets {
                client_secret: org.secrets.client_secret.clone(),
                refresh_token: answer.refresh_token,
                jwt_key: None,
            },
            access: Some(StoredAccess {
                value: access.value,
                api_base: access.api_base,
                expires_at: access.expires_at,
            }),
            ..org
        };
        self.store.put_grant(&grant).await.map_err(store_error)?;
        if let Some(runtime) = self.customers.lock().await.get(&flow.customer) {
            runtime.forget_rep(&flow.subject).await;
        }
        info!(customer = %flow.customer, "rep connected");
        Ok(flow)
    }

    /// Refuses a grant made by someone other than the rep the flow was for:
    /// a browser signed in as a colleague or an admin must not give the rep
    /// their identity.
    async fn check_granted_by(
        &self,
        config: &CustomerConfig,
        email: &str,
        base_url: &str,
        answer: &auth::TokenResponse,
    ) -> Result<(), RecordError> {
        let wrong = |message: String| RecordError::input("wrong_user", message, None);
        let granted = auth::granted_by(&self.http, config.provider, base_url, answer)
            .await
            .map_err(wrong)?;
        let expected = match config.provider {
            Provider::Hubspot => Some(email.to_owned()),
            Provider::Salesforce => {
                let runtime = self.customer(config).await?;
                let users = runtime
                    .crm
                    .find_owners(&[email.to_owned()])
                    .await
                    .map_err(RecordError::crm)?;
                users.get(email).cloned()
            }
        };
        match expected {
            Some(expected) if expected.eq_ignore_ascii_case(&granted) => Ok(()),
            Some(_) => Err(wrong(format!(
                "access was granted by another {} user than rep `{email}`; the rep must sign \
                 in as themselves and connect again",
                config.provider
            ))),
            None => Err(wrong(format!(
                "rep `{email}` is not a user of the customer's {}",
                config.provider
            ))),
        }
    }

    /// Removes a rep's connection. True if there was one.
    pub async fn disconnect_rep(&self, customer: &str, email: &str) -> anyhow::Result<bool> {
        let removed = self.store.delete_grant(customer, email).await?;
        if let Some(runtime) = self.customers.lock().await.get(customer) {
            runtime.forget_rep(email).await;
        }
        Ok(removed)
    }

    /// The customer's org-wide connection, which reps' grants are made
    /// through.
    async fn org_grant(&self, config: &CustomerConfig) -> Result<Grant, RecordError> {
        self.store
            .grant(&config.customer, ORG)
            .await
            .map_err(|e| RecordError::input("store_unavailable", format!("{e:#}"), None))?
            .ok_or_else(|| {
                RecordError::input(
                    "not_connected",
                    format!(
                        "customer `{}` has no org-wide connection, whose app reps connect \
                         through",
                        config.customer
                    ),
                    None,
                )
            })
    }

    /// The customer's runtime state (CRM client, schema, owners), built on
    /// first use from its stored connection.
    pub async fn customer(
        &self,
        config: &CustomerConfig,
    ) -> Result<Arc<CustomerRuntime>, RecordError> {
        let mut customers = self.customers.lock().await;
        if let Some(runtime) = customers.get(&config.customer) {
            return Ok(runtime.clone());
        }
        let stored = self.store.grant(&config.customer, ORG).await.map_err(|e| {
            RecordError::input("store_unavailable", format!("{e:#}"), None).retryable()
        })?;
        if stored.is_none() {
            return Err(RecordError::input(
                "not_connected",
                format!("customer `{}` has no CRM connection yet", config.customer),
                None,
            ));
        }
        let runtime = Arc::new(CustomerRuntime::new(
            config,
            self.store.clone(),
            self.http.clone(),
        ));
        customers.insert(config.customer.clone(), runtime.clone());
        Ok(runtime)
    }

    /// Runs one batch for a customer. `intents` holds each record as parsed:
    /// a record that did not parse is already an error and fails alone.
    ///
    /// Every intent is stored, claimed by this replica, before it runs (a
    /// dry run stores nothing), so that a host stopped mid-batch leaves it
    /// to be resumed rather than lost.
    pub async fn write_batch(
        &self,
        config: Arc<CustomerConfig>,
        intents: Vec<Result<WriteIntent, RecordError>>,
        dry_run: bool,
    ) -> Vec<RecordResult> {
        let mut results: Vec<Option<RecordResult>> = vec![None; intents.len()];

        // 1. Idempotency: a key seen before answers with its first outcome.
        let mut parsed = Vec::with_capacity(intents.len());
        for (index, intent) in intents.into_iter().enumerate() {
            match intent {
                Err(e) => results[index] = Some(RecordResult::failed(index, None, None, e)),
                Ok(intent) => parsed.push((index, intent)),
            }
        }
        let intake = self.sync_intake();
        let mode = if dry_run {
            idempotency::Mode::Look
        } else {
            idempotency::Mode::Store(&intake)
        };
        let claimed = idempotency::claim(&self.store, &config.customer, parsed, mode).await;
        for answered in claimed.answered {
            let index = answered.index;
            results[index] = Some(answered);
        }

        // 2. The rest of the path, for the records this request owns. Later
        //    stages treat the first of two records as the earlier one.
        let mut run = claimed.run;
        run.sort_by_key(|owned| owned.index);
        if !run.is_empty() {
            let done = if dry_run {
                let intents = run.into_iter().map(|o| (o.index, o.intent)).collect();
                execute::run(self, config.clone(), intents, true).await
            } else {
                self.run_owned(config.clone(), run).await
            };
            for result in done {
                let index = result.index;
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    let e = RecordError::input("internal", "record was not processed".into(), None);
                    RecordResult::failed(i, None, None, e)
                })
            })
            .collect()
    }
}

impl RecordError {
    /// The same error, marked as worth retrying.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
}
