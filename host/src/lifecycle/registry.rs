//! The plugins a host has loaded, which version each customer runs, and
//! the steps that change either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::fixtures::{self, Fixtures, Report};
use super::section::{FIXTURES_SECTION, custom_section};
use crate::access::Principal;
use crate::config::CustomerConfig;
use crate::plugin::{Plugin, PluginLoadError, PluginRuntime};
use crate::store::{Action, Activation, Pause, PluginVersion, Store, StoredPlugin};

/// Consecutive trapped records, with no record passing through the plugin
/// between them, after which a customer's plugin is paused. One trap is a
/// bad record; this many in a row is a broken plugin that would otherwise
/// burn a CPU deadline on every record.
pub const TRAPS_BEFORE_PAUSE: u32 = 5;

/// How often a registry reads versions, activations and pauses again, so
/// that a step taken through another replica on the same database is in
/// force here within this long.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A step refused, with the status and stable code to answer.
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code.
    pub code: &'static str,
    /// What is wrong, naming the plugin, version or customer.
    pub message: String,
    /// The fixture report, when the refusal is about it.
    pub report: Option<Report>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            report: None,
        }
    }
}

/// Either a refusal or a failure of the host itself.
pub type Outcome<T> = Result<T, Step>;

/// Why a step did not happen.
#[derive(Debug)]
pub enum Step {
    /// The caller's request was refused.
    Refused(Refusal),
    /// The host failed (the store).
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Step {
    fn from(error: anyhow::Error) -> Self {
        Step::Failed(error)
    }
}

impl From<Refusal> for Step {
    fn from(refusal: Refusal) -> Self {
        Step::Refused(refusal)
    }
}

/// What an upload did.
#[derive(Debug, Clone, Serialize)]
pub struct Uploaded {
    /// The stored version.
    #[serde(flatten)]
    pub version: PluginVersion,
    /// False when the same bytes were uploaded before: nothing changed.
    pub created: bool,
}

/// The loaded plugins and what each customer runs.
pub struct Registry {
    runtime: PluginRuntime,
    store: Store,
    loaded: RwLock<HashMap<(String, String), Arc<Plugin>>>,
    /// Customer to the (plugin, version) its newest live activation pins.
    activations: RwLock<HashMap<String, (String, String)>>,
    paused: RwLock<HashMap<String, Pause>>,
    /// Consecutive trapped records per customer.
    faults: Mutex<HashMap<String, u32>>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// Loads every stored plugin (compiled code comes from the runtime's
    /// cache when it has it), the activations in force and the pauses, and
    /// reads them again every [`RELOAD_EVERY`] while the registry lives.
    pub async fn open(runtime: PluginRuntime, store: Store) -> anyhow::Result<Arc<Self>> {
        let registry = Arc::new(Registry {
            runtime,
            store,
            loaded: RwLock::default(),
            activations: RwLock::default(),
            paused: RwLock::default(),
            faults: Mutex::default(),
        });
        registry.reload().await?;
        let weak = Arc::downgrade(&registry);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let Some(registry) = weak.upgrade() else {
                    break;
                };
                if let Err(error) = registry.reload().await {
                    tracing::warn!(error = %format!("{error:#}"),
                        "failed to read plugin versions and activations again");
                }
            }
        });
        Ok(registry)
    }

    /// Reads what other replicas on the same database may have changed:
    /// versions not loaded yet, the activations in force, the pauses.
    async fn reload(&self) -> anyhow::Result<()> {
        for stored in self.store.plugin_versions(None).await? {
            if self.get(&stored.name, &stored.version).is_some() {
                continue;
            }
            let Some(wasm) = self
                .store
                .plugin_wasm(&stored.name, &stored.version)
                .await?
            else {
                continue;
            };
            let runtime = self.runtime.clone();
            let (name, version) = (stored.name.clone(), stored.version.clone());
            let plugin = tokio::task::spawn_blocking(move || runtime.load(&name, &version, &wasm))
                .await
                .context("loading a stored plugin stopped")??;
            write(&self.loaded).insert((stored.name, stored.version), plugin);
        }
        let activations = self.store.live_activations().await?;
        *write(&self.activations) = activations
            .into_iter()
            .map(|live| (live.customer, (live.name, live.version)))
            .collect();
        let pauses = self.store.pauses().await?;
        *write(&self.paused) = pauses
            .into_iter()
            .map(|p| (p.customer.clone(), p))
            .collect();
        Ok(())
    }

    /// A loaded version.
    pub fn get(&self, name: &str, version: &str) -> Option<Arc<Plugin>> {
        read(&self.loaded)
            .get(&(name.to_owned(), version.to_owned()))
            .cloned()
    }

    /// `config` with the version its customer's activation pins, if any.
    pub fn effective(&self, config: Arc<CustomerConfig>) -> Arc<CustomerConfig> {
        let activations = read(&self.activations);
        let Some((name, version)) = activations.get(&config.customer) else {
            return config;
        };
        match &config.plugin {
            Some(p) if p.name == *name && p.version != *version => {
                let mut effective = (*config).clone();
                if let Some(plugin) = &mut effective.plugin {
                    plugin.version = version.clone();
                }
                Arc::new(effective)
            }
            _ => config,
        }
    }

    /// The pause of `customer`'s plugin, when the version it runs is paused.
    pub fn pause(&self, customer: &str, name: &str, version: &str) -> Option<Pause> {
        read(&self.paused)
            .get(customer)
            .filter(|p| p.name == name && p.version == version)
            .cloned()
    }

    /// Counts a batch's plugin outcomes, in record order (`true` for a
    /// trap, `false` for a record the plugin handled), and pauses the
    /// plugin for the customer after [`TRAPS_BEFORE_PAUSE`] traps in a row.
    pub async fn observe(
        &self,
        customer: &str,
        name: &str,
        version: &str,
        outcomes: impl IntoIterator<Item = (bool, Option<String>)>,
    ) {
        let mut last_trap = None;
        let tripped = {
            let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
            let count = faults.entry(customer.to_owned()).or_default();
            let mut tripped = false;
            for (trapped, message) in outcomes {
                if trapped {
                    *count += 1;
                    last_trap = message;
                    tripped |= *count >= TRAPS_BEFORE_PAUSE;
                } else {
                    *count = 0;
                }
            }
            if tripped {
                *count = 0;
            }
            tripped
        };
        if !tripped {
            return;
        }
        let pause = Pause {
            customer: customer.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            reason: format!(
                "{TRAPS_BEFORE_PAUSE} records in a row trapped; the last: {}",
                last_trap.unwrap_or_default()
            ),
            paused_at: Utc::now().to_rfc3339(),
        };
        tracing::warn!(customer, plugin = name, version, reason = %pause.reason,
            "plugin paused for the customer until CS resumes it");
        if let Err(error) = self.store.put_pause(&pause).await {
            // In force for this process all the same.
            tracing::error!(customer, error = %format!("{error:#}"), "failed to store a pause");
        }
        let actor = Principal {
            id: "host".into(),
            name: "the host".into(),
            role: crate::access::Role::Admin,
            customers: Vec::new(),
        };
        let action = Action {
            action: "plugin.pause",
            customer: Some(customer),
            plugin: Some(name),
            version: Some(version),
            detail: json!({ "reason": pause.reason }),
        };
        if let Err(error) = self.store.audit_operator(&actor, action).await {
            tracing::error!(customer, error = %format!("{error:#}"), "failed to audit a pause");
        }
        write(&self.paused).insert(customer.to_owned(), pause);
    }

    /// Vets, tests and stores an uploaded component: it must be a component
    /// for a compatible contract that imports nothing but conduit's host
    /// interfaces, and the fixture cases it carries must all pass.
    pub async fn upload(
        &self,
        actor: &Principal,
        name: &str,
        version: &str,
        wasm: Vec<u8>,
    ) -> Outcome<Uploaded> {
        let hash = crate::plugin::content_hash(&wasm);
        if let Some(existing) = self.store.plugin_version(name, version).await? {
            if existing.sha256 == hash {
                return Ok(Uploaded {
                    version: existing,
                    created: false,
                });
            }
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "version_exists",
                format!(
                    "plugin `{name}` {version} was uploaded before with other bytes \
                     (sha256 {}); versions do not change: upload a new version",
                    existing.sha256
                ),
            )
            .into());
        }

        let cases = fixture_cases(&wasm)?;
        let (plugin, report) = {
            let runtime = self.runtime.clone();
            let (name, version) = (name.to_owned(), version.to_owned());
            let wasm = wasm.clone();
            tokio::task::spawn_blocking(move || {
                let plugin = runtime.load(&name, &version, &wasm)?;
                let report = cases.as_ref().map(|cases| fixtures::run(&plugin, cases));
                Ok::<_, PluginLoadError>((plugin, report))
            })
            .await
            .map_err(|e| anyhow::anyhow!("vetting the plugin stopped: {e}"))?
            .map_err(load_refusal)?
        };
        if let Some(report) = report.as_ref().filter(|r| !r.all_passed()) {
            let mut refusal = Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "fixtures_failed",
                format!(
                    "plugin `{name}` {version}: {} of its {} fixture cases failed",
                    report.failed,
                    report.cases.len()
                ),
            );
            refusal.report = Some(report.clone());
            return Err(refusal.into());
        }

        let report = report.map(|r| serde_json::to_value(r).unwrap_or_default());
        let stored = StoredPlugin {
            name: name.to_owned(),
            version: version.to_owned(),
            sha256: hash.clone(),
            wasm,
        };
        self.store
            .put_plugin_version(&stored, actor, report.as_ref())
            .await?;
        write(&self.loaded).insert((name.to_owned(), version.to_owned()), plugin);
        let action = Action {
            action: "plugin.upload",
            plugin: Some(name),
            version: Some(version),
            detail: json!({ "sha256": hash, "fixtures": report }),
            ..Action::default()
        };
        self.store.audit_operator(actor, action).await?;
        tracing::info!(plugin = name, version, sha256 = %hash, by = %actor.id, "plugin uploaded");
        let version = self.version(name, version).await?;
        Ok(Uploaded {
            version,
            created: true,
        })
    }

    /// A stored version, or the refusal that names it missing.
    pub async fn version(&self, name: &str, version: &str) -> Outcome<PluginVersion> {
        self.store
            .plugin_version(name, version)
            .await?
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "unknown_plugin",
                    format!("no plugin `{name}` {version} has been uploaded"),
                )
                .into()
            })
    }

    /// Approves a version: not by its uploader, and only when its fixture
    /// cases ran and passed on upload.
    pub async fn approve(
        &self,
        actor: &Principal,
        name: &str,
        version: &str,
    ) -> Outcome<PluginVersion> {
        let stored = self.version(name, version).await?;
        if stored.approved_at.is_some() {
            return Ok(stored);
        }
        if stored.uploader_id.as_deref() == Some(actor.id.as_str()) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "same_person",
                format!(
                    "plugin `{name}` {version} was uploaded by {}; another person must approve it",
                    actor.who()
                ),
            )
            .into());
        }
        if stored.fixtures.is_none() {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "untested",
                format!(
                    "plugin `{name}` {version} carries no fixture cases; build it with \
                     `conduit plugin build` so its cases run on upload"
                ),
            )
            .into());
        }
        self.store.approve_plugin(name, version, actor).await?;
        let action = Action {
            action: "plugin.approve",
            plugin: Some(name),
            version: Some(version),
            detail: json!({ "sha256": stored.sha256 }),
            ..Action::default()
        };
        self.store.audit_operator(actor, action).await?;
        tracing::info!(plugin = name, version, by = %actor.id, "plugin approved");
        self.version(name, version).await
    }

    /// Pins an approved `version` of the customer's plugin for it; in force
    /// from its next batch.
    pub async fn activate(
        &self,
        actor: &Principal,
        config: &CustomerConfig,
        version: &str,
    ) -> Outcome<()> {
        let name = configured_plugin(config)?;
        let stored = self.version(name, version).await?;
        if stored.approved_at.is_none() {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "not_approved",
                format!("plugin `{name}` {version} has not been approved"),
            )
            .into());
        }
        let customer = config.customer.as_str();
        self.store
            .put_activation(customer, name, version, actor)
            .await?;
        self.audit_customer(actor, "plugin.activate", customer, name, version)
            .await?;
        write(&self.activations).insert(customer.to_owned(), (name.to_owned(), version.into()));
        tracing::info!(customer, plugin = name, version, by = %actor.id, "plugin activated");
        Ok(())
    }

    /// Undoes the newest activation: the one before it, or the config's
    /// version when there is none, is in force from the next batch.
    pub async fn roll_back(&self, actor: &Principal, config: &CustomerConfig) -> Outcome<()> {
        let name = configured_plugin(config)?;
        let customer = config.customer.as_str();
        let history = self.store.activations(customer).await?;
        let mut live = history.iter().filter(|a| a.rolled_back_at.is_none());
        let Some(current) = live.next() else {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "nothing_to_roll_back",
                format!(
                    "customer `{customer}` runs the version its config names; there is no \
                     activation to roll back"
                ),
            )
            .into());
        };
        self.store.roll_back_activation(current.id, actor).await?;
        self.audit_customer(actor, "plugin.rollback", customer, name, &current.version)
            .await?;
        let mut activations = write(&self.activations);
        match live.next() {
            Some(previous) => {
                activations.insert(
                    customer.to_owned(),
                    (previous.name.clone(), previous.version.clone()),
                );
            }
            None => {
                activations.remove(customer);
            }
        }
        tracing::info!(customer, plugin = name, from = %current.version, by = %actor.id,
            "plugin activation rolled back");
        Ok(())
    }

    /// Lifts a customer's pause.
    pub async fn resume(&self, actor: &Principal, customer: &str) -> Outcome<Pause> {
        let Some(pause) = read(&self.paused).get(customer).cloned() else {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "not_paused",
                format!("the plugin of customer `{customer}` is not paused"),
            )
            .into());
        };
        self.store.delete_pause(customer).await?;
        self.audit_customer(
            actor,
            "plugin.resume",
            customer,
            &pause.name,
            &pause.version,
        )
        .await?;
        write(&self.paused).remove(customer);
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(customer);
        tracing::info!(customer, plugin = %pause.name, by = %actor.id, "plugin resumed");
        Ok(pause)
    }

    /// A customer's activations, newest first.
    pub async fn history(&self, customer: &str) -> anyhow::Result<Vec<Activation>> {
        self.store.activations(customer).await
    }

    async fn audit_customer(
        &self,
        actor: &Principal,
        action: &str,
        customer: &str,
        name: &str,
        version: &str,
    ) -> anyhow::Result<()> {
        let action = Action {
            action,
            customer: Some(customer),
            plugin: Some(name),
            version: Some(version),
            detail: json!({}),
        };
        self.store.audit_operator(actor, action).await
    }
}

/// The plugin the customer's config names, which activations pin versions
/// of.
fn configured_plugin(config: &CustomerConfig) -> Result<&str, Refusal> {
    config
        .plugin
        .as_ref()
        .map(|p| p.name.as_str())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::CONFLICT,
                "no_plugin",
                format!(
                    "customer `{}` has no `plugin:` in its config; name the plugin and its \
                 settings there, then activate versions of it",
                    config.customer
                ),
            )
        })
}

/// The fixture cases the component carries, if any.
fn fixture_cases(wasm: &[u8]) -> Result<Option<Fixtures>, Refusal> {
    let invalid =
        |message: String| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_refused", message);
    let section = custom_section(wasm, FIXTURES_SECTION)
        .map_err(|e| invalid(format!("the upload is not a component: {e:#}")))?;
    section
        .map(|json| {
            Fixtures::parse(json)
                .map_err(|e| invalid(format!("the `{FIXTURES_SECTION}` section: {e:#}")))
        })
        .transpose()
}

fn load_refusal(error: PluginLoadError) -> Refusal {
    let code = match &error {
        PluginLoadError::ContractVersion { .. } => "contract_version",
        PluginLoadError::ForbiddenImport { .. } => "forbidden_import",
        PluginLoadError::Compile { .. } | PluginLoadError::Link { .. } => "plugin_refused",
    };
    Refusal::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        format!("{:#}", anyhow::Error::from(error)),
    )
}
