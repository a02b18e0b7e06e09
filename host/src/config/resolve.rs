//! Merging a customer's overrides over the integration's defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::files::{
    ConnectionsFile, CustomerEntityFile, CustomerFile, EntityFile, FieldFile, IntegrationFile,
    ObjectFile, OwnerFile, PolicyPair, Provider,
};
use super::limits::Limits;
use crate::export::{Policy, PolicyRule};
use crate::record::{ACTIVITY_PREFIX, Value};
use crate::schema::TooLong;

/// One customer's effective configuration.
#[derive(Debug, Clone)]
pub struct CustomerConfig {
    /// The customer's id.
    pub customer: String,
    /// The CRM it runs on.
    pub provider: Provider,
    /// The zone whose calendar days date fields take.
    pub time_zone: chrono_tz::Tz,
    /// Which connection writes what.
    pub connections: ConnectionsFile,
    /// How much of the CRM's API allocation conduit may use.
    pub limits: Limits,
    /// Agent entity to CRM object mapping.
    pub entities: BTreeMap<String, EntityMapping>,
    /// The customer's plugin, if any.
    pub plugin: Option<PluginRef>,
    /// Receivers of the customer's change feed.
    pub webhooks: Vec<super::Webhook>,
    /// The file the customer's overrides came from.
    pub source: PathBuf,
    /// A short hash of the files this config was built from.
    pub version: String,
    /// How often each periodic task runs, by task name; none where the
    /// config turns it off. A task not named runs at its own default.
    pub schedule: super::Intervals,
}

impl CustomerConfig {
    /// Every CRM object this customer's config writes to.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.entities.values().map(|e| e.object.as_str())
    }
}

/// How one agent entity maps onto the customer's CRM object.
#[derive(Debug, Clone)]
pub struct EntityMapping {
    /// The agent entity name.
    pub entity: String,
    /// The CRM object API name.
    pub object: String,
    /// The CRM field the record key is matched against.
    pub match_field: Option<String>,
    /// Owner attribution, if the object has an owner.
    pub owner: Option<OwnerFile>,
    /// The unique field a create carries conduit's key in, sent as an
    /// upsert on it.
    pub crm_key: Option<String>,
    /// The entity's export policies, for fields a plugin adds.
    pub policy: PolicyRule,
    /// Field mappings by agent field name.
    pub fields: BTreeMap<String, FieldMapping>,
}

/// One agent field's effective mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// The agent field name.
    pub agent_field: String,
    /// The CRM field API name; none for a HubSpot association-only reference.
    pub crm_field: Option<String>,
    /// Agent value (lowercased) to CRM value.
    pub values: BTreeMap<String, String>,
    /// The customer's plugin translates this field's status.
    pub plugin: bool,
    /// The agent value is the key of a record of this entity.
    pub reference: Option<String>,
    /// The value used on create when the agent sends nothing.
    pub default: Option<Value>,
    /// The export policies in force for this field.
    pub policy: PolicyRule,
    /// An explicit empty value from the agent clears the field.
    pub clear: bool,
    /// The picklist value used for an agent value the field does not allow.
    pub fallback: Option<String>,
    /// What to do with text longer than the field takes.
    pub too_long: TooLong,
    /// A forward-only field may move backwards.
    pub allow_regression: bool,
}

/// The plugin a customer runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// Package name.
    pub name: String,
    /// Pinned version.
    pub version: String,
    /// Settings the plugin reads through its `setting` import.
    pub settings: BTreeMap<String, Value>,
}

/// The built-in policy under every config: write everything on create,
/// never overwrite on update what someone already entered.
const BUILT_IN: PolicyRule = PolicyRule {
    create: Policy::Overwrite,
    update: Policy::FillIfEmpty,
};

/// The config key of an entity's section: `entities.deal`, or
/// `activities.call` for the activity entity `activity.call`.
pub fn entity_key(entity: &str) -> String {
    match entity.strip_prefix(ACTIVITY_PREFIX) {
        Some(kind) => format!("activities.{kind}"),
        None => format!("entities.{entity}"),
    }
}

/// The integration's and the customer's entities, with each activity kind
/// added as the entity `activity.KIND`.
fn with_activities(
    integration: &IntegrationFile,
    customer: &CustomerFile,
) -> (
    BTreeMap<String, EntityFile>,
    BTreeMap<String, CustomerEntityFile>,
) {
    let mut base = integration.entities.clone();
    for (kind, file) in &integration.activities {
        base.insert(kind.entity(), file.clone());
    }
    let mut overrides = customer.entities.clone();
    for (kind, file) in &customer.activities {
        overrides.insert(kind.entity(), file.clone());
    }
    (base, overrides)
}

/// Builds a customer's effective config, or every error found on the way.
pub(super) fn resolve(
    integration: &IntegrationFile,
    customer: &CustomerFile,
    path: &Path,
    version: String,
) -> Result<CustomerConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let invalid = |key: String, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line: None,
        key,
        message,
    };

    // The API addresses a customer by this id and `conduit check` reports it;
    // a file named after another customer would make the two disagree.
    let stem = path.file_stem().map(|s| s.to_string_lossy());
    if let Some(stem) = stem
        && stem != customer.customer.as_str()
    {
        errors.push(invalid(
            "customer".into(),
            format!(
                "customer `{}` does not match the file name `{stem}`; \
                 `customer:` must equal the file's name without its extension",
                customer.customer
            ),
        ));
    }

    let time_zone = match customer.time_zone.as_deref() {
        None => chrono_tz::UTC,
        Some(name) => name.parse().unwrap_or_else(|_| {
            errors.push(invalid(
                "time_zone".into(),
                format!(
                    "`{name}` is not an IANA time zone name such as `Europe/Berlin` or \
                     `America/New_York`"
                ),
            ));
            chrono_tz::UTC
        }),
    };

    // Activity kinds resolve as entities named `activity.KIND`.
    let (base_entities, customer_entities) = with_activities(integration, customer);
    for name in customer.entities.keys().filter(|name| name.contains('.')) {
        errors.push(invalid(
            format!("entities.{name}"),
            "an entity name holds no `.`; activities are configured under `activities:`".into(),
        ));
    }

    let mut entities = BTreeMap::new();
    for (name, overrides) in &customer_entities {
        if !base_entities.contains_key(name) && overrides.object.is_none() {
            errors.push(invalid(
                entity_key(name),
                "entity is not in the integration; a custom entity needs `object`".into(),
            ));
        }
    }

    let names: Vec<&String> = base_entities
        .keys()
        .chain(customer_entities.keys())
        .collect();
    for name in names {
        if entities.contains_key(name) {
            continue;
        }
        let base = base_entities.get(name);
        let object_file = base.and_then(|e| match customer.crm {
            Provider::Salesforce => e.salesforce.as_ref(),
            Provider::Hubspot => e.hubspot.as_ref(),
        });
        let overrides = customer_entities.get(name).cloned().unwrap_or_default();
        if object_file.is_none() && overrides.object.is_none() {
            // The integration does not map this entity into this CRM.
            continue;
        }
        // Whether the integration maps this entity into this CRM, so that a
        // field it does not map may be a typo rather than a new field.
        let mut integration_maps = object_file.is_some();
        let mut object_file = object_file.cloned().unwrap_or_else(ObjectFile::default);
        // The integration's fields are another object's when the customer
        // moves the entity (a custom activity object instead of Task): the
        // customer maps its fields itself; match and owner carry over.
        if let (Some(own), Some(theirs)) = (&overrides.object, &object_file.object)
            && own != theirs
        {
            object_file.fields.clear();
            integration_maps = false;
        }

        let Some(object) = overrides.object.clone().or(object_file.object.clone()) else {
            errors.push(invalid(
                entity_key(name),
                format!(
                    "no `object` for {} in the integration or the customer",
                    customer.crm
                ),
            ));
            continue;
        };

        let entity_export = base.map(|e| e.export).unwrap_or_default();
        let layers_below_field = [integration.export, entity_export];
        let layers_above_field = [customer.export, overrides.export];

        let mut fields = BTreeMap::new();
        // Each agent field once, whether the integration, the customer or
        // both name it, so that a field's error is reported once.
        let agent_fields: std::collections::BTreeSet<&String> = object_file
            .fields
            .keys()
            .chain(overrides.fields.keys())
            .collect();
        for agent_field in agent_fields {
            if fields.contains_key(agent_field) || overrides.unmapped.contains(agent_field) {
                continue;
            }
            let key = format!("{}.fields.{agent_field}", entity_key(name));
            let base_field = object_file.fields.get(agent_field).map(|f| f.0.clone());
            let over_field = overrides.fields.get(agent_field).map(|f| f.0.clone());
            let merged = merge_field(base_field.clone(), over_field.clone());

            let mut policy = BUILT_IN;
            for layer in layers_below_field {
                policy = policy.with(layer);
            }
            if let Some(f) = &base_field {
                policy = policy.with(PolicyPair {
                    create: f.create,
                    update: f.update,
                });
            }
            for layer in layers_above_field {
                policy = policy.with(layer);
            }
            if let Some(f) = &over_field {
                policy = policy.with(PolicyPair {
                    create: f.create,
                    update: f.update,
                });
            }

            if integration_maps && base_field.is_none() && needs_crm_field(&merged, customer.crm) {
                // A customer's entry without `field` can only change an
                // integration mapping; without one, it is most likely a typo.
                errors.push(invalid(
                    key,
                    not_a_field(agent_field, name, object_file.fields.keys()),
                ));
                continue;
            }
            if merged.plugin == Some(true) && customer.plugin.is_none() {
                // Without a plugin the host would quietly use the value map
                // instead, which is not what `plugin: true` asks for.
                let from = match over_field.as_ref().and_then(|f| f.plugin) {
                    Some(_) => "",
                    None => " (set in the integration)",
                };
                errors.push(invalid(
                    format!("{key}.plugin"),
                    format!(
                        "`plugin: true`{from} asks the customer's plugin to translate this \
                         field, but customer `{}` has no `plugin`; add its `plugin:` \
                         section or set `plugin: false`",
                        customer.customer
                    ),
                ));
            }

            match field_mapping(agent_field, merged, policy, customer.crm) {
                Ok(mapping) => {
                    fields.insert(agent_field.clone(), mapping);
                }
                Err(message) => errors.push(invalid(key, message)),
            }
        }

        for unmapped in &overrides.unmapped {
            if !object_file.fields.contains_key(unmapped) {
                errors.push(invalid(
                    format!("{}.unmapped", entity_key(name)),
                    format!("`{unmapped}` is not a field of entity `{name}`"),
                ));
            }
        }

        entities.insert(
            name.clone(),
            EntityMapping {
                entity: name.clone(),
                object,
                match_field: overrides
                    .match_field
                    .clone()
                    .or(object_file.match_field.clone()),
                owner: overrides.owner.clone().or(object_file.owner.clone()),
                crm_key: overrides.crm_key.clone().or(object_file.crm_key.clone()),
                policy: layers_below_field
                    .into_iter()
                    .chain(layers_above_field)
                    .fold(BUILT_IN, PolicyRule::with),
                fields,
            },
        );
    }

    for (entity, mapping) in &entities {
        for field in mapping.fields.values() {
            if let Some(target) = &field.reference
                && !entities.contains_key(target)
            {
                errors.push(invalid(
                    format!(
                        "{}.fields.{}.reference",
                        entity_key(entity),
                        field.agent_field
                    ),
                    format!("entity `{target}` is not mapped for this customer"),
                ));
            }
        }
    }

    let plugin = match &customer.plugin {
        None => None,
        Some(plugin) => {
            if !is_package_name(&plugin.name) {
                errors.push(invalid(
                    "plugin.name".into(),
                    format!(
                        "`{}` is not a plain package name: use lowercase letters, digits, \
                         `-` and `_`, starting with a letter or digit",
                        plugin.name
                    ),
                ));
            }
            if !is_semver(&plugin.version) {
                errors.push(invalid(
                    "plugin.version".into(),
                    format!(
                        "`{}` is not a semantic version such as `1.2.0`",
                        plugin.version
                    ),
                ));
            }
            let mut settings = BTreeMap::new();
            for (key, value) in &plugin.settings {
                match yaml_value(value) {
                    Ok(value) => {
                        settings.insert(key.clone(), value);
                    }
                    Err(message) => errors.push(invalid(format!("plugin.settings.{key}"), message)),
                }
            }
            Some(PluginRef {
                name: plugin.name.clone(),
                version: plugin.version.clone(),
                settings,
            })
        }
    };

    let limits = customer
        .limits
        .over(integration.limits)
        .resolve()
        .unwrap_or_else(|(key, message)| {
            errors.push(invalid(format!("limits.{key}"), message));
            Limits::default()
        });
    let webhooks = super::webhooks::resolve(&customer.webhooks, &entities, &invalid, &mut errors);
    let schedule = super::schedule::resolve(&integration.schedule, &customer.schedule)
        .unwrap_or_else(|found| {
            errors.extend(
                found
                    .into_iter()
                    .map(|(key, message)| invalid(key, message)),
            );
            BTreeMap::new()
        });

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CustomerConfig {
        customer: customer.customer.clone(),
        provider: customer.crm,
        time_zone,
        connections: customer.connections,
        limits,
        entities,
        plugin,
        webhooks,
        source: path.to_owned(),
        version,
        schedule,
    })
}

/// Options the customer sets replace the integration's, one by one; value
/// maps are merged.
fn merge_field(base: Option<FieldFile>, over: Option<FieldFile>) -> FieldFile {
    let base = base.unwrap_or_default();
    let Some(over) = over else { return base };
    FieldFile {
        field: over.field.or(base.field),
        values: match (base.values, over.values) {
            // A customer's value map adds to the integration's and wins
            // where both map the same agent value. Agent values compare
            // ignoring case, so `RETAIL` overrides `retail`.
            (Some(base), Some(over)) => {
                let mut merged = lowercase_keys(base);
                merged.extend(lowercase_keys(over));
                Some(merged)
            }
            (base, over) => over.or(base),
        },
        plugin: over.plugin.or(base.plugin),
        reference: over.reference.or(base.reference),
        default: over.default.or(base.default),
        create: over.create.or(base.create),
        update: over.update.or(base.update),
        clear: over.clear.or(base.clear),
        fallback: over.fallback.or(base.fallback),
        too_long: over.too_long.or(base.too_long),
        allow_regression: over.allow_regression.or(base.allow_regression),
    }
}

fn lowercase_keys(values: BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect()
}

fn field_mapping(
    agent_field: &str,
    file: FieldFile,
    policy: PolicyRule,
    provider: Provider,
) -> Result<FieldMapping, String> {
    if needs_crm_field(&file, provider) {
        return Err("no CRM `field` given".into());
    }
    if file.clear == Some(true) && policy.update != Policy::Overwrite {
        return Err(
            "`clear: true` needs `update: overwrite`: under `fill_if_empty` or `skip` a field \
             that holds a value is never changed, so it is never cleared either"
                .into(),
        );
    }
    let default = match &file.default {
        Some(value) => Some(yaml_value(value).map_err(|m| format!("default: {m}"))?),
        None => None,
    };
    let values = file
        .values
        .unwrap_or_default()
        .into_iter()
        .map(|(from, to)| (from.to_lowercase(), to))
        .collect();
    Ok(FieldMapping {
        agent_field: agent_field.to_owned(),
        crm_field: file.field,
        values,
        plugin: file.plugin.unwrap_or(false),
        reference: file.reference,
        default,
        policy,
        clear: file.clear.unwrap_or(false),
        fallback: file.fallback,
        too_long: file.too_long.unwrap_or_default(),
        allow_regression: file.allow_regression.unwrap_or(false),
    })
}

/// Whether a merged mapping lacks the CRM field it needs: every field has
/// one, except a HubSpot reference, which may be an association alone.
fn needs_crm_field(file: &FieldFile, provider: Provider) -> bool {
    let needs_field = file.reference.is_none() || provider == Provider::Salesforce;
    file.field.is_none() && needs_field
}

/// The error for a customer's field entry that names no CRM field and no
/// field the integration maps: the closest mapped field if one is near, or
/// all of them.
fn not_a_field<'a>(
    agent_field: &str,
    entity: &str,
    mapped: impl Iterator<Item = &'a String>,
) -> String {
    let mapped: Vec<&String> = mapped.collect();
    let hint = match closest(agent_field, &mapped) {
        Some(near) => format!("did you mean `{near}`?"),
        None if mapped.is_empty() => "it maps no fields".to_owned(),
        None => {
            let names: Vec<String> = mapped.iter().map(|f| format!("`{f}`")).collect();
            format!("it maps {}", names.join(", "))
        }
    };
    format!(
        "`{agent_field}` is not a field of entity `{entity}` in the integration ({hint}); \
         a new field needs its CRM `field`"
    )
}

/// The mapped name within a small edit distance of `name`, a third of its
/// length and at least one, so that `prodcut` finds `product` while a name
/// unlike any mapped one gets the whole list instead of a poor guess.
pub(super) fn closest<'a>(name: &str, mapped: &[&'a String]) -> Option<&'a String> {
    let limit = (name.chars().count() / 3).max(1);
    mapped
        .iter()
        .map(|m| (edit_distance(name, m), *m))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, m)| m)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// A plugin name is looked up in the plugin store and shown in the audit;
/// `[a-z0-9][a-z0-9_-]*` keeps paths, spaces and case variants out.
/// A plugin package name: `[a-z0-9][a-z0-9_-]*`, safe in paths, logs and
/// metrics. The config, the API and `conduit plugin new` all check it.
pub(crate) fn is_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH`, then an optional
/// `-pre.release` and `+build`; numbers and numeric pre-release parts have
/// no leading zeros. A pin that is not one cannot be compared or upgraded.
fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let core: Vec<&str> = core.split('.').collect();
    core.len() == 3
        && core.iter().all(|p| numeric(p))
        && pre.is_none_or(|pre| {
            pre.split('.')
                .all(|p| identifier(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || numeric(p)))
        })
        && build.is_none_or(|build| build.split('.').all(identifier))
}

/// A YAML scalar or list of scalars as a field value.
fn yaml_value(value: &serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Ok(Value::Null),
        Y::Bool(b) => Ok(Value::Boolean(*b)),
        Y::Number(n) => n
            .as_f64()
            .map(Value::Number)
            .ok_or_else(|| "number out of range".into()),
        Y::String(s) => Ok(Value::Text(s.clone())),
        Y::Sequence(items) => items
            .iter()
            .map(|item| match item {
                Y::String(s) => Ok(s.clone()),
                Y::Number(n) => Ok(n.to_string()),
                Y::Bool(b) => Ok(b.to_string()),
                _ => Err("a list may hold only text, numbers or booleans".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Multi),
        Y::Mapping(_) | Y::Tagged(_) => Err("expected a scalar or a list, found a map".into()),
    }
}
