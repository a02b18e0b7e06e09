//! Soylent logs activities as HubSpot engagements (calls, emails, meetings,
//! notes, tasks), which the integration's mapping fills from the activity:
//! `hs_timestamp`, titles, bodies, direction, owner and the associations to
//! contact, company and deal.
//!
//! This plugin adds what Soylent's portal keeps beyond that: its own
//! `activity_subtype` enumeration on every engagement (the property is the
//! `subtype_property` setting), and on calls the disposition, whose options
//! HubSpot stores as ids under labels such as `Connected` or `Left
//! voicemail`. Both are found by label in the portal's discovered
//! properties, so an option Soylent adds is used after re-discovery.

use conduit_plugin_sdk::{Activity, CrmWrite, Host, Plugin, PluginError};

/// The subtype property when the settings name none.
const DEFAULT_PROPERTY: &str = "activity_subtype";

/// The call disposition property HubSpot defines.
const DISPOSITION: &str = "hs_call_disposition";

/// The error code of a subtype or outcome the portal has no option for.
const UNKNOWN_OPTION: &str = "unknown_option";

/// The plugin: stateless, as every call gets a fresh instance.
#[derive(Debug, Default)]
pub struct SoylentEngagements;

impl Plugin for SoylentEngagements {
    fn map_activity(
        &self,
        host: &dyn Host,
        activity: &Activity,
        mut draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        let property = host.text_setting("subtype_property", DEFAULT_PROPERTY);
        for write in &mut draft {
            if let Some(subtype) = given(&activity.subtype) {
                write.set_option(host, &property, subtype, UNKNOWN_OPTION)?;
            }
            if write.object == "calls"
                && let Some(outcome) = given(&activity.outcome)
            {
                write.set_option(host, DISPOSITION, outcome, UNKNOWN_OPTION)?;
            }
        }
        Ok(draft)
    }
}

conduit_plugin_sdk::export_plugin!(SoylentEngagements);

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests;
