//! What a plugin's store holds: the WASI context that grants nothing, the
//! memory cap, and the `host` imports a plugin may call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView};

use super::bindings::conduit::plugin::host;
use super::bindings::types as wit;
use super::convert;
use super::instance::PluginContext;

/// Room for a panic message and a little more. A plugin that writes more to
/// stderr traps: it is not a log channel (that is `host.log`).
const STDERR_CAPACITY: usize = 16 * 1024;

/// Longest plugin log line kept; the rest is cut so a plugin cannot flood the
/// host's log.
const MAX_LOG_LINE: usize = 2048;

/// The `tracing` target of plugin log lines, so they can be filtered apart.
const GUEST_TARGET: &str = "conduit::plugin::guest";

/// The data of one plugin store: one customer, one instance.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: MemoryCap,
    /// What the plugin wrote to stderr, to report a panic message.
    pub(crate) stderr: MemoryOutputPipe,
    plugin: Arc<str>,
    version: Arc<str>,
    context: Arc<PluginContext>,
    /// Schemas already converted to the contract's types. A plugin that
    /// checks a picklist asks for its object on every record; converting a
    /// few hundred fields each time would dominate the call.
    schemas: HashMap<String, wit::ObjectSchema>,
}

impl StoreState {
    pub(crate) fn new(
        plugin: Arc<str>,
        version: Arc<str>,
        context: Arc<PluginContext>,
        memory_limit: usize,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        StoreState {
            wasi: deny_all(stderr.clone()),
            table: ResourceTable::new(),
            limits: MemoryCap::new(memory_limit),
            stderr,
            plugin,
            version,
            context,
            schemas: HashMap::new(),
        }
    }
}

/// A WASI context with nothing in it: no preopened directories, environment,
/// arguments or sockets, and clocks frozen at zero, so that the plugin's
/// answer depends on its input alone. Stderr goes to `stderr`.
fn deny_all(stderr: MemoryOutputPipe) -> WasiCtx {
    // The builder's defaults already grant no files, env, args or network;
    // spelled out here so a reader need not know them.
    let mut builder = WasiCtxBuilder::new();
    builder
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock);
    builder.build()
}

/// A clock that always reads zero: plugins get no time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl wasmtime_wasi::WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The memory cap of one store. A refused growth traps with
/// [`MemoryCapHit`], so the call reports the cap rather than an allocation
/// failure deep inside the plugin.
pub(crate) struct MemoryCap {
    limit: usize,
}

/// The trap raised when a plugin grows past its memory cap.
#[derive(Debug, thiserror::Error)]
#[error("memory cap of {limit} bytes reached growing to {desired} bytes")]
pub(crate) struct MemoryCapHit {
    pub(crate) limit: usize,
    desired: usize,
}

/// Tables hold function references; a plugin needs few. This bounds a table
/// bomb the way the memory cap bounds a memory bomb.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryCap {
    fn new(limit: usize) -> Self {
        MemoryCap { limit }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(MemoryCapHit {
                limit: self.limit,
                desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl wit::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let message = truncate(&message, MAX_LOG_LINE);
        let (plugin, version) = (&*self.plugin, &*self.version);
        let customer = self.context.customer.as_str();

        // A plugin's "error" is its own fault, not the host's: WARN at most.
        macro_rules! guest_event {
            ($level:expr) => {
                tracing::event!(
                    target: GUEST_TARGET, $level, plugin, version, customer, "{message}"
                )
            };
        }
        match level {
            wit::LogLevel::Trace => guest_event!(tracing::Level::TRACE),
            wit::LogLevel::Debug => guest_event!(tracing::Level::DEBUG),
            wit::LogLevel::Info => guest_event!(tracing::Level::INFO),
            wit::LogLevel::Warn | wit::LogLevel::Error => guest_event!(tracing::Level::WARN),
        }
    }

    fn schema(&mut self, object: String) -> Option<wit::ObjectSchema> {
        if let Some(converted) = self.schemas.get(&object) {
            return Some(converted.clone());
        }

        // Only objects the org has are kept, so a plugin asking for made-up
        // names cannot grow the host's memory.
        let converted = convert::schema_to_wit(&self.context.schema.object(&object)?);
        self.schemas.insert(object, converted.clone());
        Some(converted)
    }

    fn setting(&mut self, key: String) -> Option<wit::Value> {
        self.context.settings.get(&key).map(convert::value_to_wit)
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
