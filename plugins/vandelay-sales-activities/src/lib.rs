//! Vandelay keeps no activity in Task or Event: every call, email, meeting,
//! task and note is one `Sales_Activity__c` record, with lookups to Contact,
//! Account and Opportunity (which the host fills from the activity's related
//! records, routed by the lookups' `referenceTo`).
//!
//! This plugin sets what the declarative mapping cannot: `Kind__c` from the
//! activity's kind and `Subtype__c` from the agent's subtype, both found by
//! value or label in the org's discovered picklists, and the record's
//! `Name`, which Vandelay's reports list as `Call: Intro with Ada`, cut to
//! the length the org allows.

use conduit_plugin_sdk::{Activity, CrmWrite, Host, Plugin, PluginError, Value};

/// The object Vandelay's activities live in.
const OBJECT: &str = "Sales_Activity__c";

/// The error code of a kind or subtype the org's picklists do not have.
const UNKNOWN_VALUE: &str = "unknown_activity_value";

/// `Name`'s length where the schema gives none (Salesforce's text name).
const NAME_LENGTH: usize = 80;

/// The plugin: stateless, as every call gets a fresh instance.
#[derive(Debug, Default)]
pub struct VandelaySalesActivities;

impl Plugin for VandelaySalesActivities {
    fn map_activity(
        &self,
        host: &dyn Host,
        activity: &Activity,
        mut draft: Vec<CrmWrite>,
    ) -> Result<Vec<CrmWrite>, PluginError> {
        for write in draft.iter_mut().filter(|w| w.object == OBJECT) {
            let kind = activity.kind.to_string();
            write.set_option(host, "Kind__c", &kind, UNKNOWN_VALUE)?;
            if let Some(subtype) = activity.subtype.as_deref().filter(|s| !s.trim().is_empty()) {
                write.set_option(host, "Subtype__c", subtype, UNKNOWN_VALUE)?;
            }
            let name = name(host, activity, &kind);
            write.set_field("Name", Value::from(name));
        }
        Ok(draft)
    }
}

conduit_plugin_sdk::export_plugin!(VandelaySalesActivities);

/// `Call: Intro with Ada`, or `Call` alone, within the org's `Name` length.
fn name(host: &dyn Host, activity: &Activity, kind: &str) -> String {
    let mut label: String = kind.chars().take(1).flat_map(char::to_uppercase).collect();
    label.extend(kind.chars().skip(1));
    if let Some(subject) = activity.subject.as_deref().filter(|s| !s.trim().is_empty()) {
        label = format!("{label}: {}", subject.trim());
    }
    let limit = host
        .schema(OBJECT)
        .and_then(|schema| schema.field("Name").and_then(|f| f.length))
        .map_or(NAME_LENGTH, |length| length as usize);
    label.chars().take(limit).collect()
}

#[cfg(test)]
mod tests;
