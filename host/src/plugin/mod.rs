//! The plugin runtime: runs each customer's mapping plugin, a WebAssembly
//! component built against `wit/plugin.wit`, in a sandbox.
//!
//! A plugin is compiled once per content hash ([`PluginRuntime::load`]), then
//! run through a [`PluginInstance`] per customer per batch. The sandbox:
//!
//! - imports: only conduit's `host` interface (log, schema, settings) at a
//!   compatible contract version, and the WASI `cli`, `io`, `clocks` and
//!   `random` packages, linked to a context that grants nothing: no
//!   environment, arguments or real clocks. A component that imports WASI
//!   files or sockets, or anything else, is refused at load.
//! - memory: each instance is capped at [`RuntimeConfig::memory_limit_bytes`];
//!   growing past it traps.
//! - CPU: each call gets [`RuntimeConfig::deadline`] of its thread's CPU time,
//!   checked at every epoch tick (see `deadline`), so load on the host does not
//!   fail a call that waits for a core.
//! - stack: wasmtime's limit on wasm stack; a runaway recursion traps.
//! - output: an answer over [`MAX_ANSWER_BYTES`] as JSON is refused.
//! - faults: a trap fails that one call ([`PluginCallError::Trapped`]) and the
//!   instance starts afresh on the next; a plugin's own error
//!   ([`PluginCallError::Rejected`]) leaves it running.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use conduit_host::plugin::{PluginContext, PluginRuntime, RuntimeConfig};
//! use conduit_host::record::{AgentRecord, Operation};
//! use conduit_host::schema::OrgSchema;
//!
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let wasm = std::fs::read("globex_deal_stages.wasm")?;
//! let plugin = runtime.load("globex-deal-stages", "0.1.0", &wasm)?;
//!
//! let context = PluginContext {
//!     customer: "globex".into(),
//!     settings: Default::default(),
//!     schema: Arc::new(OrgSchema::default()),
//! };
//! let mut instance = plugin.instance(context);
//! let deal = AgentRecord {
//!     entity: "deal".into(),
//!     operation: Operation::Upsert,
//!     key: None,
//!     acting_for: None,
//!     fields: Default::default(),
//! };
//! let stage = instance.translate_status("deals", "dealstage", "Won", &deal)?;
//! # Ok(())
//! # }
//! ```
//!
//! Known shortcoming: a plugin that sleeps (`wasi:clocks` `subscribe-duration`
//! then `poll`) blocks its thread in the host, where the epoch deadline does
//! not reach. Shadowing those two functions with ones that return a ready
//! pollable would remove it; no plugin has a reason to sleep.

mod bindings;
mod build;
mod convert;
mod deadline;
mod error;
mod instance;
mod load;
mod runtime;
mod sandbox;
mod trap;

pub use build::{build_component, build_plugin};
pub use error::{PluginCallError, PluginError, PluginLoadError, TrapReason};
pub use instance::{MAX_ANSWER_BYTES, Plugin, PluginContext, PluginInstance};
pub use load::{
    CONTRACT_VERSION, CompiledFrom, RELEASED_CONTRACTS, content_hash, contract_compatible,
};
pub use runtime::{PluginRuntime, RuntimeConfig};
