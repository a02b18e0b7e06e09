//! Globex's deal stage translation (HubSpot, default pipeline).
//!
//! Globex's agent speaks the four stages of its sales dataset: `Prospecting`,
//! `Engaging`, `Won` and `Lost`. HubSpot's default pipeline has finer stages,
//! and which one a deal belongs in depends on more than the agent's stage:
//!
//! | agent stage | HubSpot stage id | when |
//! |---|---|---|
//! | Won | `closedwon` | always |
//! | Lost | `closedlost` | always |
//! | Prospecting | `appointmentscheduled` | the deal has no `account` yet |
//! | Prospecting | `qualifiedtobuy` | the deal has an `account` |
//! | Engaging | `decisionmakerboughtin` | a premium product, or a committed amount (below) |
//! | Engaging | `presentationscheduled` | otherwise |
//!
//! A product is premium when it is in the setting `premium_products` (a
//! multi value); an amount is committed when the deal's `amount` is at least
//! the setting `commit_threshold` (a number). Product names are compared
//! ignoring case and spaces, because the dataset spells `GTX Pro` as `GTXPro`
//! in its pipeline. The chosen stage id is checked
//! against the `dealstage` picklist of Globex's discovered `deals` schema, so a
//! pipeline edited in HubSpot fails the record with `unknown_stage` instead of
//! a write the CRM would refuse.

use conduit_plugin_sdk::{AgentRecord, Host, LogLevel, Plugin, PluginError, Value};

/// The CRM object and field this plugin translates; others are left alone.
const OBJECT: &str = "deals";
const FIELD: &str = "dealstage";

/// The plugin's error code for a stage it cannot place.
const UNKNOWN_STAGE: &str = "unknown_stage";

/// Globex's deal stage plugin; see the crate docs for the rules.
#[derive(Debug, Default)]
pub struct GlobexDealStages;

impl Plugin for GlobexDealStages {
    fn translate_status(
        &self,
        host: &dyn Host,
        object: &str,
        field: &str,
        status: &str,
        record: &AgentRecord,
    ) -> Result<Option<Value>, PluginError> {
        if object != OBJECT || field != FIELD {
            return Ok(None);
        }

        let (stage, why) = choose_stage(host, status, record)?;
        check_in_schema(host, stage)?;

        host.log(
            LogLevel::Debug,
            &format!("deal stage `{status}` is `{stage}` ({why})"),
        );
        Ok(Some(Value::from(stage)))
    }
}

conduit_plugin_sdk::export_plugin!(GlobexDealStages);

/// The HubSpot stage id for the agent's `status`, and the rule that chose it
/// (for the log; it names no field values).
fn choose_stage(
    host: &dyn Host,
    status: &str,
    record: &AgentRecord,
) -> Result<(&'static str, &'static str), PluginError> {
    let chosen = match status.trim().to_ascii_lowercase().as_str() {
        "won" => ("closedwon", "won"),
        "lost" => ("closedlost", "lost"),
        "prospecting" if has_account(record) => ("qualifiedtobuy", "prospecting with an account"),
        "prospecting" => ("appointmentscheduled", "prospecting without an account"),
        "engaging" if is_premium(host, record) => ("decisionmakerboughtin", "premium product"),
        "engaging" if is_committed(host, record) => {
            ("decisionmakerboughtin", "amount over threshold")
        }
        "engaging" => ("presentationscheduled", "engaging"),
        _ => {
            let message = format!(
                "deal stage `{status}` is not one globex maps; \
                 expected Prospecting, Engaging, Won or Lost"
            );
            return Err(PluginError::new(UNKNOWN_STAGE, message).with_field(FIELD));
        }
    };
    Ok(chosen)
}

/// Whether the deal names an account (blank text counts as none).
fn has_account(record: &AgentRecord) -> bool {
    record
        .text("account")
        .is_some_and(|account| !account.trim().is_empty())
}

/// Whether the deal's product is in the `premium_products` setting.
fn is_premium(host: &dyn Host, record: &AgentRecord) -> bool {
    let Some(product) = record.text("product") else {
        return false;
    };
    let product = product_key(product);

    match host.setting("premium_products") {
        Some(Value::Multi(premium)) => premium.iter().any(|name| product_key(name) == product),
        // A single product configured as plain text is still a list of one.
        Some(Value::Text(name)) => product_key(&name) == product,
        _ => false,
    }
}

/// Whether the deal's `amount` reaches the `commit_threshold` setting.
fn is_committed(host: &dyn Host, record: &AgentRecord) -> bool {
    let threshold = host
        .setting("commit_threshold")
        .and_then(|value| value.as_number());
    match (record.number("amount"), threshold) {
        (Some(amount), Some(threshold)) => amount >= threshold,
        _ => false,
    }
}

/// A product name for comparison: the dataset writes `GTXPro` for `GTX Pro`.
fn product_key(name: &str) -> String {
    let letters = name.chars().filter(|c| !c.is_whitespace());
    letters.flat_map(char::to_lowercase).collect()
}

/// Fails with `unknown_stage` unless `stage` is an active value of Globex's
/// `deals.dealstage` picklist.
fn check_in_schema(host: &dyn Host, stage: &str) -> Result<(), PluginError> {
    let schema = host.schema(OBJECT);
    let Some(field) = schema.as_ref().and_then(|schema| schema.field(FIELD)) else {
        let message = format!("the `{OBJECT}` schema has no `{FIELD}` field to check `{stage}`");
        return Err(PluginError::new(UNKNOWN_STAGE, message).with_field(FIELD));
    };

    if field.allows(stage) {
        return Ok(());
    }
    let allowed = field.allowed_values().join(", ");
    let message = format!("stage `{stage}` is not a value of `{FIELD}`; allowed: {allowed}");
    Err(PluginError::new(UNKNOWN_STAGE, message).with_field(FIELD))
}

#[cfg(test)]
mod tests;
