//! What a plugin can ask of the host it runs in.

use crate::{LogLevel, ObjectSchema, Value};

/// The host's side of the contract, as seen from plugin code.
///
/// Inside the component this calls the `host` imports; in native tests it is
/// a [`crate::testing::FakeHost`]. Nothing else is reachable from a plugin:
/// no files, network, clock or environment.
pub trait Host {
    /// Writes a line to the host's log, which tags it with the plugin and the
    /// customer. Never log customer field values: the host's log is shared.
    fn log(&self, level: LogLevel, msg: &str);

    /// The customer's discovered schema for a CRM object (`deals`,
    /// `Opportunity`), or `None` when the org has no such object.
    fn schema(&self, object: &str) -> Option<ObjectSchema>;

    /// A value from this plugin's `settings` in the customer's config.
    fn setting(&self, key: &str) -> Option<Value>;

    /// The text setting `key`, or `default` when the customer's config sets
    /// none (or sets something other than text).
    fn text_setting(&self, key: &str, default: &str) -> String {
        match self.setting(key) {
            Some(Value::Text(text)) => text,
            _ => default.to_owned(),
        }
    }
}
