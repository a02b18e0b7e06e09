//! A plugin that misbehaves on request, so the end-to-end tests can prove the
//! host's sandbox holds. Never deploy it.
//!
//! `map-record` reads the agent record's text field `mode`:
//!
//! | mode | what it does |
//! |---|---|
//! | `loop` | spins forever: the CPU deadline must stop it |
//! | `alloc` | allocates without bound: the memory cap must stop it |
//! | `panic` | panics with the message `misbehave: asked to panic` |
//! | `error` | returns the plugin error `asked_to_fail` for field `mode` |
//! | `stack` | recurses without end: the stack limit must stop it |
//! | `flood` | answers a write with 8 MiB of text: the output cap must refuse it |
//! | `count` | adds the field `count`: how many `count` calls this instance has seen |
//! | `probe` | adds what it could see of the outside: `env_vars`, `args`, `clock` |
//!
//! It reads no files and opens no sockets: a component that imports those is
//! refused at load (see `tests/plugins/intruder`).
//! | anything else | returns the draft unchanged (the pass-through path the bench uses) |

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use conduit_plugin_sdk::{AgentRecord, CrmWrite, Host, Plugin, PluginError};

/// Counts `count` calls, to show that instances share no memory.
static COUNT: AtomicU32 = AtomicU32::new(0);

/// The misbehaving plugin.
#[derive(Debug, Default)]
pub struct Misbehave;

impl Plugin for Misbehave {
    fn map_record(
        &self,
        _host: &dyn Host,
        record: &AgentRecord,
        mut draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        match record.text("mode").unwrap_or_default() {
            "loop" => spin(),
            "alloc" => hoard(),
            "panic" => panic!("misbehave: asked to panic"),
            "stack" => {
                let depth = recurse(black_box(1));
                first(&mut draft).set_field("depth", depth as f64);
                Ok(draft)
            }
            "flood" => {
                first(&mut draft).set_field("flood", "x".repeat(8 << 20));
                Ok(draft)
            }
            "error" => {
                let error = PluginError::new("asked_to_fail", "the record asked for an error");
                Err(error.with_field("mode"))
            }
            "count" => {
                let count = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
                first(&mut draft).set_field("count", f64::from(count));
                Ok(draft)
            }
            "probe" => {
                probe(first(&mut draft));
                Ok(draft)
            }
            _ => Ok(draft),
        }
    }
}

conduit_plugin_sdk::export_plugin!(Misbehave);

/// The draft's first write, made when the draft is empty.
fn first(draft: &mut Vec<CrmWrite>) -> &mut CrmWrite {
    if draft.is_empty() {
        draft.push(CrmWrite::new("probe"));
    }
    &mut draft[0]
}

/// Loops forever without calling the host.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB at a time, touching every page, until the host stops it.
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1 << 20]);
        black_box(&hoard);
    }
}

/// Calls itself until the stack runs out; `black_box` keeps the compiler
/// from turning it into a loop.
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    black_box(recurse(black_box(n + 1))) + 1
}

/// Records what the plugin can see of the world outside the sandbox.
fn probe(write: &mut CrmWrite) {
    write.set_field("env_vars", std::env::vars().count() as f64);
    write.set_field("args", std::env::args().count() as f64);
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    write.set_field(
        "clock",
        since_epoch.map(|d| d.as_secs_f64()).unwrap_or(-1.0),
    );
}
