//! The CPU-only part of a record's path: declarative mapping, the
//! customer's plugin, and the schema check with typed coercion. It runs on a
//! blocking thread, with at most one plugin instance per customer per batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::activity::DERIVED_FIELDS;
use super::{RecordError, WriteIntent, links};
use crate::config::{CustomerConfig, EntityMapping};
use crate::export::Source;
use crate::mapping::{self, Draft};
use crate::plugin::{Plugin, PluginCallError, PluginContext, PluginInstance};
use crate::record::{AgentRecord, CrmWrite, Fields};
use crate::schema::{CoerceRules, ObjectSchema, OrgSchema, SchemaLookup, coerce_with};

/// A record ready for matching and planning.
pub(super) struct Prepared {
    pub index: usize,
    pub intent: WriteIntent,
    /// The write with every value coerced to its field's type.
    pub write: CrmWrite,
    pub sources: BTreeMap<String, Source>,
    /// Coerced values for create only.
    pub defaults: Fields,
    /// What coercion changed, by CRM field (a fallback, a truncation).
    pub notes: BTreeMap<String, String>,
    pub unmapped: Vec<String>,
}

/// A record that failed on the way, with what it was.
///
/// Boxed: a failure is the rare path, and keeps `Result<Prepared, _>` small.
pub(super) type Unprepared = Box<(usize, WriteIntent, RecordError)>;

/// Prepares every record of a batch.
pub(super) fn prepare_all(
    config: &CustomerConfig,
    schema: Arc<OrgSchema>,
    plugin: Option<Arc<Plugin>>,
    intents: Vec<(usize, WriteIntent)>,
) -> Vec<Result<Prepared, Unprepared>> {
    let mut instance = plugin.map(|plugin| {
        let settings = config
            .plugin
            .as_ref()
            .map(|p| p.settings.clone())
            .unwrap_or_default();
        let lookup: Arc<dyn SchemaLookup> = schema.clone();
        plugin.instance(PluginContext {
            customer: config.customer.clone(),
            settings,
            schema: lookup,
        })
    });

    intents
        .into_iter()
        .map(
            |(index, intent)| match prepare(config, &schema, instance.as_mut(), &intent) {
                Ok(parts) => Ok(Prepared {
                    index,
                    intent,
                    write: parts.write,
                    sources: parts.sources,
                    defaults: parts.defaults,
                    notes: parts.notes,
                    unmapped: parts.unmapped,
                }),
                Err(error) => Err(Box::new((index, intent, error))),
            },
        )
        .collect()
}

struct PreparedParts {
    write: CrmWrite,
    sources: BTreeMap<String, Source>,
    defaults: Fields,
    notes: BTreeMap<String, String>,
    unmapped: Vec<String>,
}

fn prepare(
    config: &CustomerConfig,
    schema: &OrgSchema,
    plugin: Option<&mut PluginInstance>,
    intent: &WriteIntent,
) -> Result<PreparedParts, RecordError> {
    let record = AgentRecord {
        entity: intent.entity.clone(),
        operation: intent.operation,
        key: intent.key.clone(),
        acting_for: intent.acting_for.clone(),
        fields: intent.fields.clone(),
    };

    // 1. The declarative mapping.
    let Draft {
        mut write,
        mut sources,
        defaults,
        plugin_statuses,
        mut unmapped,
    } = mapping::map_record(config, &record)?;

    // An activity's related records, as links on the draft; the fields the
    // host derived are the mapping's to use, never the agent's to miss.
    if let Some(activity) = &intent.activity {
        links::draft(config, schema, activity, &mut write);
        unmapped.retain(|field| !DERIVED_FIELDS.contains(&field.as_str()));
    }

    // 2. The plugin: statuses it translates, then its record or activity
    // hook.
    if let Some(instance) = plugin {
        for status in &plugin_statuses {
            let translated = instance
                .translate_status(&write.object, &status.crm_field, &status.status, &record)
                .map_err(plugin_error)?;
            if let Some(value) = translated {
                write.fields.insert(status.crm_field.clone(), value);
                sources.insert(status.crm_field.clone(), Source::Plugin);
            }
        }
        let writes = match &intent.activity {
            Some(activity) => instance.map_activity(activity, &[write.clone()]),
            None => instance.map_record(&record, &[write.clone()]),
        };
        let mut writes = writes.map_err(plugin_error)?;
        // One agent record or activity is one CRM record.
        if writes.len() != 1 || writes[0].object != write.object {
            return Err(RecordError::input(
                "plugin_output",
                format!(
                    "plugin returned {} writes for a `{}` record; expected one `{}` write",
                    writes.len(),
                    record.entity,
                    write.object
                ),
                None,
            ));
        }
        let mapped = writes.remove(0);
        for field in mapped.fields.keys() {
            if write.fields.get(field) != mapped.fields.get(field) {
                sources.insert(field.clone(), Source::Plugin);
            }
        }
        write = mapped;
    }

    // 3. The schema check: every field exists and its value has the right type.
    let object = schema.objects.get(&write.object).ok_or_else(|| {
        RecordError::input(
            "unknown_object",
            format!("object `{}` is not in the customer's schema", write.object),
            None,
        )
    })?;
    let entity = mapping::entity(config, &record.entity)?;
    let mut notes = BTreeMap::new();
    let fields = coerce_all(
        config,
        entity,
        object,
        std::mem::take(&mut write.fields),
        &mut notes,
    )?;
    write.fields = fields;
    for association in &write.associations {
        if let Some(via) = &association.via
            && object.field(via).is_none()
        {
            return Err(unknown_field(object, via));
        }
    }
    let defaults = coerce_all(config, entity, object, defaults, &mut notes)?;
    if intent.activity.is_some() {
        for dropped in links::settle(config, schema, &mut write)? {
            let Some(field) = dropped.via else { continue };
            let kept = write
                .associations
                .iter()
                .find(|a| a.via.as_deref() == Some(&field));
            let through = kept.map(|a| a.object.as_str()).unwrap_or("other record");
            notes.insert(
                field,
                format!(
                    "the related `{}` is not set here: Salesforce links it through the `{through}`",
                    dropped.object
                ),
            );
        }
    }
    Ok(PreparedParts {
        write,
        sources,
        defaults,
        notes,
        unmapped,
    })
}

/// Coerces every value to its field's type under the customer's rules,
/// noting what a fallback or truncation changed.
fn coerce_all(
    config: &CustomerConfig,
    entity: &EntityMapping,
    object: &ObjectSchema,
    fields: Fields,
    notes: &mut BTreeMap<String, String>,
) -> Result<Fields, RecordError> {
    fields
        .into_iter()
        .map(|(name, value)| {
            let field = object
                .field(&name)
                .ok_or_else(|| unknown_field(object, &name))?;
            let rules = mapping::rules_for(entity, &name);
            let coerced = coerce_with(
                field,
                value,
                CoerceRules {
                    time_zone: config.time_zone,
                    fallback: rules.fallback,
                    too_long: rules.too_long,
                },
            )?;
            if let Some(note) = coerced.note {
                notes.insert(name.clone(), note);
            }
            Ok((name, coerced.value))
        })
        .collect()
}

fn unknown_field(object: &ObjectSchema, field: &str) -> RecordError {
    RecordError::input(
        "unknown_field",
        format!(
            "field `{field}` is not in the customer's `{}` schema",
            object.name
        ),
        Some(field.to_owned()),
    )
}

fn plugin_error(error: PluginCallError) -> RecordError {
    match error {
        PluginCallError::Rejected {
            plugin,
            version,
            error,
        } => RecordError {
            code: error.code,
            message: format!("plugin `{plugin}` {version}: {}", error.message),
            field: error.field,
            retryable: false,
            retry_at: None,
            crm: None,
            plugin: Some(format!("{plugin}@{version}")),
        },
        PluginCallError::Trapped {
            plugin,
            version,
            reason,
        } => RecordError {
            code: "plugin_failed".into(),
            message: format!("plugin `{plugin}` {version} {reason}"),
            field: None,
            retryable: false,
            retry_at: None,
            crm: None,
            plugin: Some(format!("{plugin}@{version}")),
        },
        PluginCallError::InvalidOutput {
            plugin,
            version,
            reason,
        } => RecordError {
            code: "plugin_failed".into(),
            message: format!("plugin `{plugin}` {version} returned an invalid answer: {reason}"),
            field: None,
            retryable: false,
            retry_at: None,
            crm: None,
            plugin: Some(format!("{plugin}@{version}")),
        },
    }
}
