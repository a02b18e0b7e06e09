//! What can go wrong when loading or calling a plugin.
//!
//! A plugin's own, expected failure ([`PluginCallError::Rejected`]) is kept
//! apart from the plugin breaking or hitting a limit
//! ([`PluginCallError::Trapped`]): the first is about the agent's input and
//! goes back to the agent; the second is about the plugin and goes to whoever
//! deployed it.

use std::time::Duration;

/// An expected failure a plugin reported for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// A stable code the agent can act on, e.g. `unknown_stage`.
    pub code: String,
    /// What is wrong with the input, for a person to read.
    pub message: String,
    /// The agent or CRM field at fault, when there is one.
    pub field: Option<String>,
}

/// Why a plugin could not be loaded. Every message names the plugin and its
/// version.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// The bytes are not a valid component, or cranelift refused them.
    #[error("failed to compile plugin `{plugin}` {version}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// What the compiler said.
        #[source]
        source: anyhow::Error,
    },

    /// The component targets a version of the contract this host does not run.
    #[error(
        "plugin `{plugin}` {version} targets `{found}`, a contract this host cannot run: it runs \
         `conduit:plugin@{supported}` and plugins built against older versions of its line"
    )]
    ContractVersion {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The interface the component imports, with its version.
        found: String,
        /// The contract version this host implements.
        supported: &'static str,
    },

    /// The component imports something a plugin may not have.
    #[error("plugin `{plugin}` {version} imports `{import}`, which plugins may not use")]
    ForbiddenImport {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The import refused.
        import: String,
    },

    /// The component does not fit the `plugin` world (e.g. exports no hooks).
    #[error("plugin `{plugin}` {version} does not implement the `conduit:plugin` world")]
    Link {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// What the linker said.
        #[source]
        source: anyhow::Error,
    },
}

/// Why one call into a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginCallError {
    /// The plugin refused the input with its own error; the instance is fine.
    #[error("plugin `{plugin}` {version} rejected the record: {} ({})", error.message, error.code)]
    Rejected {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The plugin's error, as it reported it.
        error: PluginError,
    },

    /// The plugin trapped: a limit was hit or it is broken. The instance was
    /// discarded; the next call gets a fresh one.
    #[error("plugin `{plugin}` {version} {reason}")]
    Trapped {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// What happened; displays as the end of the sentence above.
        reason: TrapReason,
    },

    /// The plugin answered with something the contract does not allow, such
    /// as a date that is not `YYYY-MM-DD`. A plugin bug, like a trap, but the
    /// instance itself is fine.
    #[error("plugin `{plugin}` {version} returned an invalid answer: {reason}")]
    InvalidOutput {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

impl PluginCallError {
    /// A stable name for the kind of failure, for logs and metrics:
    /// `rejected`, `invalid_output`, or the [`TrapReason::kind`] of a trap.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginCallError::Rejected { .. } => "rejected",
            PluginCallError::Trapped { reason, .. } => reason.kind(),
            PluginCallError::InvalidOutput { .. } => "invalid_output",
        }
    }
}

/// Why a plugin trapped. Displays as the end of a sentence that starts with
/// the plugin's name and version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrapReason {
    /// The call ran past its CPU deadline.
    #[error("exceeded its cpu deadline of {}ms", .0.as_millis())]
    Deadline(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("exceeded its memory cap of {0} bytes")]
    Memory(usize),
    /// The plugin ran out of wasm stack (runaway recursion).
    #[error("exceeded its stack limit")]
    StackOverflow,
    /// The plugin panicked; the message is what it wrote to stderr.
    #[error("panicked: {0}")]
    Panic(String),
    /// The instance could not be created (e.g. the instance pool is full).
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
    /// Any other trap, with wasmtime's description.
    #[error("trapped: {0}")]
    Other(String),
}

impl TrapReason {
    /// A stable name for the reason, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TrapReason::Deadline(_) => "deadline",
            TrapReason::Memory(_) => "memory",
            TrapReason::StackOverflow => "stack_overflow",
            TrapReason::Panic(_) => "panic",
            TrapReason::Instantiate(_) => "instantiate",
            TrapReason::Other(_) => "trap",
        }
    }
}

/// Converts wasmtime's error type, which does not implement
/// `std::error::Error`, keeping its chain of causes.
pub(crate) fn to_anyhow(error: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(error.into_boxed_dyn_error())
}
