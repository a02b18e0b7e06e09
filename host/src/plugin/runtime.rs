//! The runtime all plugins share: one wasmtime [`Engine`], its epoch ticker,
//! the linker that offers a plugin the `host` imports and an empty WASI, and
//! the compile cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::error::to_anyhow;
use super::sandbox::StoreState;

/// How the runtime limits and caches plugins.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The most linear memory one plugin instance may have, in bytes. A Rust
    /// plugin starts near 1.2 MiB; 32 MiB leaves room for large batches.
    pub memory_limit_bytes: usize,
    /// The CPU time one call may take, counted on the calling thread and
    /// checked at every epoch tick, so a call is stopped between `deadline`
    /// and `deadline` plus one tick of CPU time.
    pub deadline: Duration,
    /// Where compiled plugins are kept across restarts, as
    /// `<sha256>.cwasm`; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_bytes: 32 << 20,
            deadline: Duration::from_millis(200),
            cache_dir: None,
        }
    }
}

/// How often the epoch advances. A runaway call overruns its deadline by at
/// most one tick; a shorter tick costs a wakeup of the ticker thread.
const TICK: Duration = Duration::from_millis(5);

/// How many plugin instances may be alive at once: the size of the pooling
/// allocator. An instance is per customer per batch, so this bounds the
/// batches in flight, not the customers.
const MAX_INSTANCES: u32 = 256;

/// Loads plugins and runs them in a sandbox. Cheap to clone: clones share the
/// engine and the compile cache.
#[derive(Clone)]
pub struct PluginRuntime {
    pub(crate) shared: Arc<Shared>,
}

/// What every plugin of one runtime shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    pub(crate) config: RuntimeConfig,
    /// Compiled components by the sha256 of their bytes.
    pub(crate) compiled: Mutex<HashMap<String, Component>>,
}

impl PluginRuntime {
    /// Makes the engine, starts its epoch ticker and links the imports a
    /// plugin may use. Fails when the cache directory cannot be created.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create plugin cache `{}`", dir.display()))?;
        }

        let engine = Engine::new(&engine_config(&config))
            .map_err(to_anyhow)
            .context("failed to create the plugin engine")?;
        start_ticker(&engine)?;

        // Everything WASI is linked, but the context behind it grants nothing
        // (see `sandbox`): guests import it even when they never use it.
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(to_anyhow)
            .context("failed to link wasi")?;
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(to_anyhow)
            .context("failed to link the conduit host interface")?;

        let shared = Shared {
            engine,
            linker,
            config,
            compiled: Mutex::new(HashMap::new()),
        };
        Ok(PluginRuntime {
            shared: Arc::new(shared),
        })
    }

    /// The limits this runtime applies.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }
}

/// Epoch interruption for the deadline (fuel would cost ~2x per call), and a
/// pooling allocator so a fresh instance per customer per batch is cheap.
fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        // A Rust component is a few core instances and tables (its shims).
        .total_core_instances(MAX_INSTANCES * 4)
        .total_tables(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES * 2)
        .total_stacks(MAX_INSTANCES)
        .max_memory_size(config.memory_limit_bytes);

    let mut wasm = Config::new();
    wasm.epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    wasm
}

/// Advances the engine's epoch every [`TICK`] until the engine is dropped.
fn start_ticker(engine: &Engine) -> anyhow::Result<()> {
    let engine = engine.weak();
    thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(TICK);
            }
        })
        .context("failed to start the plugin epoch ticker")?;
    Ok(())
}
