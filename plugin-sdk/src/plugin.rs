//! The trait a plugin author implements.

use crate::{Activity, AgentRecord, CrmRecord, CrmWrite, Host, PluginError, Value};

/// A conduit mapping plugin: one method per hook of the contract.
///
/// Every method has a default that leaves the host's declarative result
/// alone, so a plugin overrides only the hooks its customer needs. Each takes
/// the [`Host`] it runs in, which is the real host inside the component and a
/// [`crate::testing::FakeHost`] in native unit tests.
///
/// Return a [`PluginError`] for input the plugin cannot map (the agent gets it
/// for that one record). Panicking is for bugs: the host reports it as a
/// broken plugin, not as a problem with the input.
pub trait Plugin {
    /// Turns an agent record into CRM writes. `draft` is what the declarative
    /// mapping produced. The default returns it unchanged.
    fn map_record(
        &self,
        host: &dyn Host,
        record: &AgentRecord,
        draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        let _ = (host, record);
        Ok(draft)
    }

    /// Turns an activity into CRM writes in the customer's own pattern (a
    /// Task subtype, an engagement property, a custom object). The default
    /// returns `draft` unchanged.
    fn map_activity(
        &self,
        host: &dyn Host,
        activity: &Activity,
        draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        let _ = (host, activity);
        Ok(draft)
    }

    /// Translates the agent's `status` into the CRM value of `field` on
    /// `object`, looking at the whole `record`. `Ok(None)`, the default, leaves
    /// the translation to the declarative mapping.
    fn translate_status(
        &self,
        host: &dyn Host,
        object: &str,
        field: &str,
        status: &str,
        record: &AgentRecord,
    ) -> Result<Option<Value>, PluginError> {
        let _ = (host, object, field, status, record);
        Ok(None)
    }

    /// Maps a record read from the CRM back to the agent's entity. `draft` is
    /// the declarative reverse mapping; `Ok(None)` hides the record from the
    /// agent. The default returns `Ok(Some(draft))`.
    fn map_inbound(
        &self,
        host: &dyn Host,
        record: &CrmRecord,
        draft: AgentRecord,
    ) -> Result<Option<AgentRecord>, PluginError> {
        let _ = (host, record);
        Ok(Some(draft))
    }
}
