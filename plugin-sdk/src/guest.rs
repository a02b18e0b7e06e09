//! Glue between wit-bindgen's generated `Guest` trait and [`Plugin`], used by
//! [`crate::export_plugin!`]. Not part of the API a plugin author writes to.

use crate::bindings::conduit::plugin::host as imports;
use crate::{Activity, AgentRecord, CrmRecord, CrmWrite, LogLevel, ObjectSchema};
use crate::{Host, Plugin, PluginError, Value};

pub use crate::bindings::exports::conduit::plugin::hooks::Guest;

/// The [`Host`] inside a component: each method calls the matching import.
struct WasmHost;

impl Host for WasmHost {
    fn log(&self, level: LogLevel, msg: &str) {
        imports::log(level, msg);
    }

    fn schema(&self, object: &str) -> Option<ObjectSchema> {
        imports::schema(object)
    }

    fn setting(&self, key: &str) -> Option<Value> {
        imports::setting(key)
    }
}

/// Calls [`Plugin::map_record`] on a fresh plugin value.
pub fn map_record<P: Plugin + Default>(
    record: AgentRecord,
    draft: Vec<CrmWrite>,
) -> Result<Vec<CrmWrite>, PluginError> {
    P::default().map_record(&WasmHost, &record, draft)
}

/// Calls [`Plugin::map_activity`] on a fresh plugin value.
pub fn map_activity<P: Plugin + Default>(
    activity: Activity,
    draft: Vec<CrmWrite>,
) -> Result<Vec<CrmWrite>, PluginError> {
    P::default().map_activity(&WasmHost, &activity, draft)
}

/// Calls [`Plugin::translate_status`] on a fresh plugin value.
pub fn translate_status<P: Plugin + Default>(
    object: String,
    field: String,
    status: String,
    record: AgentRecord,
) -> Result<Option<Value>, PluginError> {
    P::default().translate_status(&WasmHost, &object, &field, &status, &record)
}

/// Calls [`Plugin::map_inbound`] on a fresh plugin value.
pub fn map_inbound<P: Plugin + Default>(
    record: CrmRecord,
    draft: AgentRecord,
) -> Result<Option<AgentRecord>, PluginError> {
    P::default().map_inbound(&WasmHost, &record, draft)
}
