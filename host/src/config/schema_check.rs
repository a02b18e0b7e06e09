//! A customer's effective config checked against its CRM schema: every
//! object and field it names exists under that API name, can be written,
//! and every value it maps into a picklist is one the picklist allows.
//!
//! `conduit check` runs it against the schema snapshots kept beside the
//! configs, so a vendor's CI refuses a mapping the org would refuse; the
//! host runs it against the schema it discovers, so drift is reported
//! before a write fails on it.

use serde::Serialize;

use super::resolve::{CustomerConfig, EntityMapping, FieldMapping};
use crate::export::Policy;
use crate::schema::{FieldSchema, FieldType, ObjectSchema, OrgSchema, coerce};

/// One thing in a config the schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaProblem {
    /// The agent entity.
    pub entity: String,
    /// The agent field, when the problem is in a field's mapping.
    pub field: Option<String>,
    /// The option of the field's mapping at fault (`values.Won`, `default`).
    pub option: Option<String>,
    /// What is wrong, and the fix when one is known.
    pub message: String,
}

/// Every problem of `config` against `schema`.
pub fn check(config: &CustomerConfig, schema: &OrgSchema) -> Vec<SchemaProblem> {
    let mut problems = Vec::new();
    for entity in config.entities.values() {
        let problem = |field: Option<&str>, option: Option<&str>, message: String| SchemaProblem {
            entity: entity.entity.clone(),
            field: field.map(str::to_owned),
            option: option.map(str::to_owned),
            message,
        };
        let Some(object) = schema.objects.get(&entity.object) else {
            problems.push(problem(
                None,
                Some("object"),
                unknown_object(schema, &entity.object),
            ));
            continue;
        };

        if let Some(field) = &entity.match_field
            && let Err(message) = resolve_field(object, field)
        {
            problems.push(problem(None, Some("match"), message));
        }
        if let Some(owner) = &entity.owner
            && let Err(message) = resolve_field(object, &owner.field)
        {
            problems.push(problem(None, Some("owner"), message));
        }
        if let Some(field) = &entity.crm_key
            && let Err(message) = crm_key_problem(object, field)
        {
            problems.push(problem(None, Some("crm_key"), message));
        }

        let before = problems.len();
        for mapping in entity.fields.values() {
            for (option, message) in field_problems(config, object, mapping) {
                problems.push(problem(
                    Some(&mapping.agent_field),
                    option.as_deref(),
                    message,
                ));
            }
        }

        // A plugin may add any field, so only a plugin-less customer's
        // config can be known to leave a required field empty; and a field
        // that did not resolve is most likely the required one, misnamed.
        if config.plugin.is_none() && problems.len() == before {
            for message in unfilled_required(entity, object) {
                problems.push(problem(None, None, message));
            }
        }
    }
    problems
}

/// A field mapping's problems, each with the option at fault.
fn field_problems(
    config: &CustomerConfig,
    object: &ObjectSchema,
    mapping: &FieldMapping,
) -> Vec<(Option<String>, String)> {
    let mut problems = Vec::new();
    let Some(name) = &mapping.crm_field else {
        return problems;
    };
    let field = match resolve_field(object, name) {
        Ok(field) => field,
        Err(message) => {
            problems.push((Some("field".into()), message));
            return problems;
        }
    };

    let never_written =
        mapping.policy.create == Policy::Skip && mapping.policy.update == Policy::Skip;
    if !field.createable && !field.updateable && !never_written {
        problems.push((
            Some("field".into()),
            format!(
                "`{}.{name}` is read-only for the integration user (calculated, system or \
                 locked by field-level security); map another field or set `create: skip` \
                 and `update: skip`",
                object.name
            ),
        ));
    }

    if let Some(target) = &mapping.reference
        && let Some(target_object) = config.entities.get(target).map(|e| e.object.as_str())
        && field.kind == FieldType::Reference
        && !field.reference_to.is_empty()
        && !field.reference_to.iter().any(|o| o == target_object)
    {
        problems.push((
            Some("reference".into()),
            format!(
                "`{}.{name}` links to {}, not to `{target_object}` (entity `{target}`)",
                object.name,
                quoted_list(&field.reference_to)
            ),
        ));
    }

    if is_picklist(field) {
        for (from, to) in &mapping.values {
            if let Err(message) = picklist_value(field, to) {
                problems.push((Some(format!("values.{from}")), message));
            }
        }
    }
    if let Some(fallback) = &mapping.fallback {
        if !is_picklist(field) {
            problems.push((
                Some("fallback".into()),
                format!("`{name}` is not a picklist, so a `fallback` value has no use"),
            ));
        } else if let Err(message) = picklist_value(field, fallback) {
            problems.push((Some("fallback".into()), message));
        }
    }
    if let Some(default) = &mapping.default
        && let Err(e) = coerce(field, default.clone())
    {
        problems.push((Some("default".into()), e.message));
    }
    if mapping.allow_regression && !field.forward_only {
        problems.push((
            Some("allow_regression".into()),
            format!(
                "`{name}` moves freely; `allow_regression` applies to forward-only fields \
                 such as HubSpot's `lifecyclestage`"
            ),
        ));
    }
    if mapping.clear && field.required {
        problems.push((
            Some("clear".into()),
            format!(
                "`{}.{name}` is required, so it cannot be cleared",
                object.name
            ),
        ));
    }
    problems
}

/// The schema of `name` in `object`, or why it is not there with the
/// likeliest fix: a label used for an API name, a custom field without its
/// `__c`, a managed package's namespace left out, or a near spelling.
/// Why `name` cannot hold conduit's key on create: creates are upserts on
/// it, which both CRMs accept only on a unique field the write may set.
fn crm_key_problem(object: &ObjectSchema, name: &str) -> Result<(), String> {
    let field = resolve_field(object, name)?;
    if !field.unique {
        return Err(format!(
            "`{}.{name}` is not unique: a create is an upsert on its `crm_key`, which needs \
             a unique external id field (Salesforce) or unique property (HubSpot)",
            object.name
        ));
    }
    if !field.createable {
        return Err(format!(
            "`{}.{name}` cannot be set on create, so it cannot carry conduit's key",
            object.name
        ));
    }
    Ok(())
}

fn resolve_field<'a>(object: &'a ObjectSchema, name: &str) -> Result<&'a FieldSchema, String> {
    if let Some(field) = object.field(name) {
        return Ok(field);
    }
    let not_found = format!("`{}` has no field `{name}`", object.name);
    let fields: Vec<&FieldSchema> = object.fields.values().collect();

    if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "{not_found}: API names are exact; did you mean `{}`?",
            f.name
        ));
    }
    if let Some(f) = fields.iter().find(|f| f.label.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "{not_found}: `{name}` is the label of `{}`; use the API name",
            f.name
        ));
    }
    let custom = format!("{name}__c");
    if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(&custom)) {
        return Err(format!(
            "{not_found}: custom fields end in `__c`; did you mean `{}`?",
            f.name
        ));
    }
    let namespaced: Vec<&str> = fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| {
            n.split_once("__")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(name) || rest == custom)
        })
        .collect();
    if let [only] = namespaced.as_slice() {
        return Err(format!(
            "{not_found}: a managed package's field carries its namespace; did you mean \
             `{only}`?"
        ));
    }
    let names: Vec<&String> = object.fields.keys().collect();
    match super::resolve::closest(name, &names) {
        Some(near) => Err(format!("{not_found}; did you mean `{near}`?")),
        None => Err(not_found),
    }
}

/// Why `name` is not an object of the org, with the fix when the org knows
/// it by another name.
fn unknown_object(schema: &OrgSchema, name: &str) -> String {
    let not_found = format!("object `{name}` is not in the customer's schema");
    let catalog = &schema.catalog;
    if let Some(o) = catalog
        .iter()
        .find(|o| o.label.eq_ignore_ascii_case(name) || o.label_plural.eq_ignore_ascii_case(name))
    {
        return format!(
            "{not_found}: `{name}` is the label of `{}`; use the API name",
            o.name
        );
    }
    let custom = format!("{name}__c");
    if let Some(o) = catalog
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(&custom))
    {
        return format!(
            "{not_found}: custom objects end in `__c`; did you mean `{}`?",
            o.name
        );
    }
    if let Some(o) = catalog.iter().find(|o| o.name.eq_ignore_ascii_case(name)) {
        return format!(
            "{not_found}: the org has `{}` but the snapshot does not describe it; \
             take the snapshot again",
            o.name
        );
    }
    not_found
}

/// The stored value `value` names, or why the picklist refuses it: a label
/// where the stored value belongs gets the value to use.
fn picklist_value(field: &FieldSchema, value: &str) -> Result<(), String> {
    let values = &field.picklist_values;
    if values.is_empty() || values.iter().any(|p| p.active && p.value == value) {
        return Ok(());
    }
    if values.iter().any(|p| p.value == value) {
        return Err(format!(
            "`{value}` is an inactive value of `{}`",
            field.name
        ));
    }
    if let Some(p) = values
        .iter()
        .find(|p| p.active && p.label.eq_ignore_ascii_case(value))
    {
        return Err(format!(
            "`{value}` is the label of `{}` in `{}`; use the stored value",
            p.value, field.name
        ));
    }
    let allowed: Vec<String> = values
        .iter()
        .filter(|p| p.active)
        .take(25)
        .map(|p| p.value.clone())
        .collect();
    Err(format!(
        "`{value}` is not a value of `{}`; allowed: {}",
        field.name,
        quoted_list(&allowed)
    ))
}

/// Required fields no mapping, default, owner or match key fills.
fn unfilled_required(entity: &EntityMapping, object: &ObjectSchema) -> Vec<String> {
    let mut filled: Vec<&str> = entity
        .fields
        .values()
        .filter_map(|f| f.crm_field.as_deref())
        .collect();
    filled.extend(entity.match_field.as_deref());
    filled.extend(entity.crm_key.as_deref());
    filled.extend(entity.owner.as_ref().map(|o| o.field.as_str()));
    object
        .fields
        .values()
        .filter(|f| f.required && f.createable && !filled.contains(&f.name.as_str()))
        .map(|f| {
            format!(
                "`{}.{}` is required on create and nothing maps it; every create would fail \
                 (map it, or give the field a `default`)",
                object.name, f.name
            )
        })
        .collect()
}

fn is_picklist(field: &FieldSchema) -> bool {
    matches!(field.kind, FieldType::Picklist | FieldType::MultiPicklist)
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    quoted.join(", ")
}
