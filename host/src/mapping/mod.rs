//! The declarative mapping: an agent record becomes a draft CRM write, with
//! agent fields renamed to CRM fields, statuses translated through the
//! config's value maps, and references turned into associations.
//!
//! What the customer's plugin does comes after this draft; what the schema
//! allows comes after that.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{CustomerConfig, EntityMapping, Provider};
use crate::export::{PolicyRule, Source};
use crate::record::{AgentRecord, Association, CrmWrite, Fields, MatchKey, Target, Value};
use crate::schema::TooLong;

/// The declarative mapping's result for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The write as the config describes it; values not yet coerced.
    pub write: CrmWrite,
    /// Where each CRM field's value came from.
    pub sources: BTreeMap<String, Source>,
    /// Values to use on create only, for fields the agent did not send.
    pub defaults: Fields,
    /// Status fields the customer's plugin translates: CRM field and the
    /// agent's status.
    pub plugin_statuses: Vec<PluginStatus>,
    /// Agent fields the config does not map; reported, never sent.
    pub unmapped: Vec<String>,
}

/// A status the plugin is asked to translate.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginStatus {
    /// The agent field.
    pub agent_field: String,
    /// The CRM field it goes to.
    pub crm_field: String,
    /// The agent's status.
    pub status: String,
}

/// Why a record cannot be mapped at all.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct MappingError {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The agent field at fault.
    pub field: Option<String>,
}

/// Maps one agent record through its entity's mapping.
pub fn map_record(config: &CustomerConfig, record: &AgentRecord) -> Result<Draft, MappingError> {
    let mapping = entity(config, &record.entity)?;
    let mut draft = Draft {
        write: CrmWrite {
            object: mapping.object.clone(),
            reference_id: None,
            match_key: None,
            fields: Fields::new(),
            associations: Vec::new(),
        },
        sources: BTreeMap::new(),
        defaults: Fields::new(),
        plugin_statuses: Vec::new(),
        unmapped: Vec::new(),
    };

    if let Some(key) = record
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let Some(match_field) = &mapping.match_field else {
            return Err(MappingError {
                code: "no_match_key",
                message: format!(
                    "entity `{}` has no `match` field for {}, so a record key cannot be used",
                    record.entity, config.provider
                ),
                field: None,
            });
        };
        let key = Value::Text(key.to_owned());
        draft.write.match_key = Some(MatchKey {
            field: match_field.clone(),
            value: key.clone(),
        });
        draft.write.fields.insert(match_field.clone(), key);
        draft.sources.insert(match_field.clone(), Source::Key);
    }

    for (agent_field, value) in &record.fields {
        let Some(field) = mapping.fields.get(agent_field) else {
            draft.unmapped.push(agent_field.clone());
            continue;
        };

        if let Some(target_entity) = &field.reference {
            if value.is_empty() {
                continue;
            }
            let target = entity(config, target_entity)?;
            let Some(target_match) = &target.match_field else {
                return Err(MappingError {
                    code: "no_match_key",
                    message: format!(
                        "field `{agent_field}` refers to entity `{target_entity}`, \
                         which has no `match` field"
                    ),
                    field: Some(agent_field.clone()),
                });
            };
            draft.write.associations.push(Association {
                object: target.object.clone(),
                target: Target::Lookup(MatchKey {
                    field: target_match.clone(),
                    value: value.clone(),
                }),
                via: match config.provider {
                    Provider::Salesforce => field.crm_field.clone(),
                    Provider::Hubspot => None,
                },
            });
            continue;
        }

        let Some(crm_field) = field.crm_field.clone() else {
            continue;
        };
        if field.plugin
            && config.plugin.is_some()
            && let Value::Text(status) = value
        {
            draft.plugin_statuses.push(PluginStatus {
                agent_field: agent_field.clone(),
                crm_field: crm_field.clone(),
                status: status.clone(),
            });
        }
        draft
            .write
            .fields
            .insert(crm_field.clone(), translate(&field.values, value));
        draft.sources.insert(crm_field, Source::Agent);
    }

    // An explicit empty value is "nothing" too: on create it takes the
    // default like an absent one.
    for field in mapping.fields.values() {
        if let (Some(default), Some(crm_field)) = (&field.default, &field.crm_field)
            && draft
                .write
                .fields
                .get(crm_field)
                .is_none_or(Value::is_empty)
        {
            draft.defaults.insert(crm_field.clone(), default.clone());
        }
    }
    Ok(draft)
}

/// The entity's mapping in this customer's config.
pub fn entity<'a>(
    config: &'a CustomerConfig,
    entity: &str,
) -> Result<&'a EntityMapping, MappingError> {
    config.entities.get(entity).ok_or_else(|| MappingError {
        code: "unknown_entity",
        message: format!(
            "entity `{entity}` is not mapped for customer `{}`; mapped: {}",
            config.customer,
            config
                .entities
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        field: Some("entity".into()),
    })
}

/// What the config says about one CRM field of an entity, beyond its value.
#[derive(Debug, Clone, Copy)]
pub struct FieldRules<'a> {
    /// The export policies.
    pub policy: PolicyRule,
    /// An explicit empty value clears the field.
    pub clear: bool,
    /// A forward-only field may move backwards.
    pub allow_regression: bool,
    /// The picklist value for agent values the field does not allow.
    pub fallback: Option<&'a str>,
    /// What to do with text over the field's length.
    pub too_long: TooLong,
}

/// The rules for a CRM field of an entity: the field's own mapping when one
/// writes it, else the entity's policies and the defaults.
pub fn rules_for<'a>(mapping: &'a EntityMapping, crm_field: &str) -> FieldRules<'a> {
    match mapping
        .fields
        .values()
        .find(|f| f.crm_field.as_deref() == Some(crm_field))
    {
        Some(f) => FieldRules {
            policy: f.policy,
            clear: f.clear,
            allow_regression: f.allow_regression,
            fallback: f.fallback.as_deref(),
            too_long: f.too_long,
        },
        None => FieldRules {
            policy: mapping.policy,
            clear: false,
            allow_regression: false,
            fallback: None,
            too_long: TooLong::Error,
        },
    }
}

/// Applies a value map; a value with no entry passes through unchanged for
/// the schema check to judge.
fn translate(values: &BTreeMap<String, String>, value: &Value) -> Value {
    match value {
        Value::Text(text) => match values.get(&text.trim().to_lowercase()) {
            Some(mapped) => Value::Text(mapped.clone()),
            None => value.clone(),
        },
        Value::Multi(items) => Value::Multi(
            items
                .iter()
                .map(|item| {
                    values
                        .get(&item.trim().to_lowercase())
                        .cloned()
                        .unwrap_or(item.clone())
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}
