//! A loaded [`Plugin`] and the [`PluginInstance`] that runs it for one
//! customer: one store, created lazily, replaced after any trap.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;

use super::bindings::{self, PluginPre};
use super::convert::{self, Invalid};
use super::deadline;
use super::error::{PluginCallError, TrapReason};
use super::load::CompiledFrom;
use super::runtime::PluginRuntime;
use super::sandbox::StoreState;
use super::trap;
use crate::record::{Activity, AgentRecord, CrmRecord, CrmWrite, Value};
use crate::schema::SchemaLookup;
use crate::telemetry::metrics;

/// The largest answer one call may give, as JSON: far over any real
/// record (HubSpot's longest text is 65,536 characters), and small enough
/// that a plugin cannot make the host hold or send a flood per record.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The size of an answer as JSON.
fn answer_size<T: serde::Serialize>(answer: &T) -> usize {
    /// Counts bytes without keeping them.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing plain data into a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, answer);
    count.0
}

/// A compiled, checked plugin, ready to instantiate. Shared by every
/// customer that runs this version.
pub struct Plugin {
    runtime: PluginRuntime,
    name: Arc<str>,
    version: Arc<str>,
    hash: String,
    compiled_from: CompiledFrom,
    pre: PluginPre<StoreState>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// What a plugin may see while it runs for one customer.
#[derive(Clone)]
pub struct PluginContext {
    /// The customer the instance runs for; tags its log lines.
    pub customer: String,
    /// The plugin's `settings` from the customer's config.
    pub settings: BTreeMap<String, Value>,
    /// The customer's discovered schema.
    pub schema: Arc<dyn SchemaLookup>,
}

impl Plugin {
    pub(crate) fn new(
        runtime: PluginRuntime,
        name: &str,
        version: &str,
        hash: String,
        compiled_from: CompiledFrom,
        pre: PluginPre<StoreState>,
    ) -> Self {
        Plugin {
            runtime,
            name: name.into(),
            version: version.into(),
            hash,
            compiled_from,
            pre,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The sha256 of the component's bytes, in hex.
    pub fn content_hash(&self) -> &str {
        &self.hash
    }

    /// Where this plugin's compiled code came from when it was loaded.
    pub fn compiled_from(&self) -> CompiledFrom {
        self.compiled_from
    }

    /// An instance for one customer. Nothing runs until the first call.
    pub fn instance(self: &Arc<Self>, ctx: PluginContext) -> PluginInstance {
        PluginInstance {
            plugin: Arc::clone(self),
            context: Arc::new(ctx),
            live: None,
        }
    }
}

/// A plugin running for one customer, for one batch. Owns at most one
/// store, never shared with another customer; after a trap the store is
/// dropped and the next call starts a fresh one.
pub struct PluginInstance {
    plugin: Arc<Plugin>,
    context: Arc<PluginContext>,
    live: Option<Live>,
}

/// An instantiated plugin and its store.
struct Live {
    store: Store<StoreState>,
    hooks: bindings::Plugin,
}

impl fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.plugin.name)
            .field("version", &self.plugin.version)
            .field("customer", &self.context.customer)
            .field("instantiated", &self.live.is_some())
            .finish()
    }
}

impl PluginInstance {
    /// Runs the plugin's `map-record` hook on an agent record and the
    /// declarative mapping's draft writes.
    pub fn map_record(
        &mut self,
        record: &AgentRecord,
        draft: &[CrmWrite],
    ) -> Result<Vec<CrmWrite>, PluginCallError> {
        let (record, draft) = (
            convert::agent_record_to_wit(record),
            convert::writes_to_wit(draft),
        );
        let answer = self.call("map-record", |hooks, store| {
            hooks
                .conduit_plugin_hooks()
                .call_map_record(store, &record, &draft)
        })?;
        self.output(convert::writes_from_wit(answer))
    }

    /// Runs the plugin's `map-activity` hook.
    pub fn map_activity(
        &mut self,
        activity: &Activity,
        draft: &[CrmWrite],
    ) -> Result<Vec<CrmWrite>, PluginCallError> {
        let (activity, draft) = (
            convert::activity_to_wit(activity),
            convert::writes_to_wit(draft),
        );
        let answer = self.call("map-activity", |hooks, store| {
            hooks
                .conduit_plugin_hooks()
                .call_map_activity(store, &activity, &draft)
        })?;
        self.output(convert::writes_from_wit(answer))
    }

    /// Runs the plugin's `translate-status` hook for `field` of `object`.
    /// `None` leaves the translation to the declarative mapping.
    pub fn translate_status(
        &mut self,
        object: &str,
        field: &str,
        status: &str,
        record: &AgentRecord,
    ) -> Result<Option<Value>, PluginCallError> {
        let record = convert::agent_record_to_wit(record);
        let answer = self.call("translate-status", |hooks, store| {
            let hooks = hooks.conduit_plugin_hooks();
            hooks.call_translate_status(store, object, field, status, &record)
        })?;
        self.output(answer.map(convert::value_from_wit).transpose())
    }

    /// Runs the plugin's `map-inbound` hook on a record read from the CRM.
    /// `None` means the agent should not see the record.
    pub fn map_inbound(
        &mut self,
        record: &CrmRecord,
        draft: &AgentRecord,
    ) -> Result<Option<AgentRecord>, PluginCallError> {
        let (record, draft) = (
            convert::crm_record_to_wit(record),
            convert::agent_record_to_wit(draft),
        );
        let answer = self.call("map-inbound", |hooks, store| {
            hooks
                .conduit_plugin_hooks()
                .call_map_inbound(store, &record, &draft)
        })?;
        self.output(answer.map(convert::agent_record_from_wit).transpose())
    }

    /// Calls one hook under a fresh deadline, turning a trap into
    /// [`PluginCallError::Trapped`] (and dropping the store) and the
    /// plugin's own error into [`PluginCallError::Rejected`].
    fn call<T>(
        &mut self,
        hook: &'static str,
        run: impl FnOnce(
            &bindings::Plugin,
            &mut Store<StoreState>,
        ) -> wasmtime::Result<Result<T, bindings::types::PluginError>>,
    ) -> Result<T, PluginCallError> {
        let budget = self.plugin.runtime.shared.config.deadline;
        let live = match &mut self.live {
            Some(live) => live,
            None => self.live.insert(self.instantiate()?),
        };

        deadline::arm(&mut live.store, budget);
        let stderr_before = live.store.data().stderr.contents().len();
        let started = Instant::now();
        let outcome = run(&live.hooks, &mut live.store);
        let kind = match &outcome {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "rejected",
            Err(_) => "trapped",
        };
        let (name, version) = (&*self.plugin.name, &*self.plugin.version);
        metrics::plugin_call(name, version, hook, kind, started.elapsed());

        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(PluginCallError::Rejected {
                plugin: self.plugin.name.to_string(),
                version: self.plugin.version.to_string(),
                error: convert::plugin_error_from_wit(error),
            }),
            Err(error) => {
                let stderr = live.store.data().stderr.contents();
                let stderr = stderr.get(stderr_before..).unwrap_or_default();
                let reason = trap::reason(&error, stderr, &self.plugin.runtime.shared.config);
                // A trapped instance may be mid-way through anything: never
                // call into it again.
                self.live = None;
                Err(self.trapped(hook, reason))
            }
        }
    }

    /// A fresh store and instance, under the same limits as a call (a
    /// guest's initialisation runs guest code too).
    fn instantiate(&self) -> Result<Live, PluginCallError> {
        let shared = &self.plugin.runtime.shared;
        let state = StoreState::new(
            Arc::clone(&self.plugin.name),
            Arc::clone(&self.plugin.version),
            Arc::clone(&self.context),
            shared.config.memory_limit_bytes,
        );
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|state| &mut state.limits);
        deadline::arm(&mut store, shared.config.deadline);

        match self.plugin.pre.instantiate(&mut store) {
            Ok(hooks) => Ok(Live { store, hooks }),
            Err(error) => {
                let stderr = store.data().stderr.contents();
                let reason = match trap::reason(&error, &stderr, &shared.config) {
                    TrapReason::Other(other) => TrapReason::Instantiate(other),
                    reason => reason,
                };
                Err(self.trapped("instantiate", reason))
            }
        }
    }

    /// Logs a plugin fault and wraps it. A WARN: the host itself is fine.
    fn trapped(&self, hook: &str, reason: TrapReason) -> PluginCallError {
        metrics::plugin_trap(&self.plugin.name, &self.plugin.version, reason.kind());
        tracing::warn!(
            plugin = %self.plugin.name,
            version = %self.plugin.version,
            customer = %self.context.customer,
            hook,
            error.type = reason.kind(),
            "plugin trapped: {reason}"
        );
        PluginCallError::Trapped {
            plugin: self.plugin.name.to_string(),
            version: self.plugin.version.to_string(),
            reason,
        }
    }

    /// A converted answer, or [`PluginCallError::InvalidOutput`] when it
    /// breaks the contract or is over [`MAX_ANSWER_BYTES`].
    fn output<T: serde::Serialize>(
        &self,
        converted: Result<T, Invalid>,
    ) -> Result<T, PluginCallError> {
        let checked = converted.and_then(|answer| {
            let size = answer_size(&answer);
            if size > MAX_ANSWER_BYTES {
                return Err(format!(
                    "an answer of {size} bytes, over the {MAX_ANSWER_BYTES} bytes a record's \
                     answer may have"
                ));
            }
            Ok(answer)
        });
        checked.map_err(|reason| {
            tracing::warn!(
                plugin = %self.plugin.name,
                version = %self.plugin.version,
                customer = %self.context.customer,
                error.type = "invalid_output",
                "plugin returned an invalid answer: {reason}"
            );
            PluginCallError::InvalidOutput {
                plugin: self.plugin.name.to_string(),
                version: self.plugin.version.to_string(),
                reason,
            }
        })
    }
}
