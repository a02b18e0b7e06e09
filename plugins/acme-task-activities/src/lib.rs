//! Acme logs every activity as a Salesforce Task. Beside the standard `Type`
//! and `TaskSubtype`, which the integration's mapping sets from the kind,
//! its RevOps team keeps a finer category in a custom picklist,
//! `Activity_Subtype__c` (`Discovery Call`, `Demo`, `Negotiation`, ...).
//!
//! The agent names the subtype in its own words; this plugin finds the
//! picklist value by value or label in the org's discovered schema, so a
//! value Acme adds is used after the next schema discovery, with no new
//! plugin. An unknown subtype fails that activity alone, naming the values
//! the org has. The picklist's API name is the `subtype_field` setting.

use conduit_plugin_sdk::{Activity, CrmWrite, Host, LogLevel, Plugin, PluginError};

/// Where the subtype goes when the customer's settings name no field.
const DEFAULT_FIELD: &str = "Activity_Subtype__c";

/// The error code of a subtype the org does not have.
const UNKNOWN_SUBTYPE: &str = "unknown_subtype";

/// The plugin: stateless, as every call gets a fresh instance.
#[derive(Debug, Default)]
pub struct AcmeTaskActivities;

impl Plugin for AcmeTaskActivities {
    fn map_activity(
        &self,
        host: &dyn Host,
        activity: &Activity,
        mut draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        let Some(subtype) = activity.subtype.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(draft);
        };
        let field = host.text_setting("subtype_field", DEFAULT_FIELD);
        for write in &mut draft {
            write.set_option(host, &field, subtype, UNKNOWN_SUBTYPE)?;
            host.log(
                LogLevel::Debug,
                &format!(
                    "{} subtype `{subtype}` set on `{}.{field}`",
                    activity.kind, write.object
                ),
            );
        }
        Ok(draft)
    }
}

conduit_plugin_sdk::export_plugin!(AcmeTaskActivities);

#[cfg(test)]
mod tests;
