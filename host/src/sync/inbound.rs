//! Inbound mapping: a record read from the CRM, in the agent's words,
//! through the same config the writes use, in reverse. CRM field becomes
//! agent field; a picklist value becomes the agent's status through the
//! field's value map reversed.
//!
//! A value map may send several agent values to one CRM value (`software`
//! and `technology` both to `Technology`). Reversed, the agent value
//! spelled like the CRM value wins; otherwise a single candidate is used,
//! and a value with none or several is passed through as the CRM has it,
//! with a note that says so rather than a guess.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::EntityMapping;
use crate::record::{Fields, Value};
use crate::schema::{ObjectSchema, read_value};

/// A CRM value the reverse mapping could not translate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// The agent field.
    pub field: String,
    /// The CRM value, passed through as it is.
    pub value: String,
    /// `unmapped` (no agent value maps to it) or `ambiguous`.
    pub reason: &'static str,
    /// For `ambiguous`: the agent values that map to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

/// A record in the agent's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The agent's key: the value of the entity's match field.
    pub key: Option<String>,
    /// Agent field to value.
    pub fields: Fields,
    /// Values passed through untranslated.
    pub notes: Vec<Note>,
}

/// The CRM fields a read of `mapping`'s object needs: the match field and
/// every field mapped to an agent field, except references (a lookup's
/// CRM id is not the agent's key of the record it points to).
pub fn read_fields(mapping: &EntityMapping) -> Vec<String> {
    let mut fields: Vec<String> = mapping.match_field.iter().cloned().collect();
    for field in mapping.fields.values().filter(|f| f.reference.is_none()) {
        if let Some(crm) = &field.crm_field
            && !fields.contains(crm)
        {
            fields.push(crm.clone());
        }
    }
    fields
}

/// The CRM record's values, by CRM field, read into the host's value types
/// through the object's schema; a field the schema lacks is kept as text.
pub fn crm_values(
    schema: &ObjectSchema,
    fields: &[String],
    raw: &serde_json::Map<String, serde_json::Value>,
) -> Fields {
    fields
        .iter()
        .map(|name| {
            let raw = raw.get(name).unwrap_or(&serde_json::Value::Null);
            let value = match schema.field(name) {
                Some(field) => read_value(field, raw),
                None => match raw {
                    serde_json::Value::Null => Value::Null,
                    serde_json::Value::String(s) if s.is_empty() => Value::Null,
                    serde_json::Value::String(s) => Value::Text(s.clone()),
                    other => Value::Text(other.to_string()),
                },
            };
            (name.clone(), value)
        })
        .collect()
}

/// Maps CRM values (by CRM field) to the agent's fields.
pub fn reverse(mapping: &EntityMapping, values: &Fields) -> Inbound {
    let key = mapping
        .match_field
        .as_ref()
        .and_then(|f| values.get(f))
        .filter(|v| !v.is_empty())
        .map(ToString::to_string);
    let mut inbound = Inbound {
        key,
        fields: Fields::new(),
        notes: Vec::new(),
    };
    for (agent_field, field) in &mapping.fields {
        if field.reference.is_some() {
            continue;
        }
        let Some(value) = field.crm_field.as_ref().and_then(|f| values.get(f)) else {
            continue;
        };
        let value = if field.values.is_empty() {
            value.clone()
        } else {
            untranslate(agent_field, &field.values, value, &mut inbound.notes)
        };
        inbound.fields.insert(agent_field.clone(), value);
    }
    inbound
}

/// A CRM value back through a value map (agent value, lowercased, to CRM
/// value).
fn untranslate(
    agent_field: &str,
    values: &BTreeMap<String, String>,
    value: &Value,
    notes: &mut Vec<Note>,
) -> Value {
    let mut one = |crm: &str| -> String {
        let candidates: Vec<&String> = values
            .iter()
            .filter(|(_, to)| to.eq_ignore_ascii_case(crm))
            .map(|(from, _)| from)
            .collect();
        if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(crm)) {
            return (*same).clone();
        }
        match candidates.as_slice() {
            [only] => (*only).clone(),
            [] => {
                notes.push(Note {
                    field: agent_field.to_owned(),
                    value: crm.to_owned(),
                    reason: "unmapped",
                    candidates: Vec::new(),
                });
                crm.to_owned()
            }
            several => {
                notes.push(Note {
                    field: agent_field.to_owned(),
                    value: crm.to_owned(),
                    reason: "ambiguous",
                    candidates: several.iter().map(|c| (*c).clone()).collect(),
                });
                crm.to_owned()
            }
        }
    };
    match value {
        Value::Text(text) => Value::Text(one(text)),
        Value::Multi(items) => Value::Multi(items.iter().map(|i| one(i)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_yaml;

    const INTEGRATION: &str = "\
entities:
  company:
    salesforce:
      object: Account
      match: Name
      fields:
        name: Name
        sector:
          field: Industry
          values:
            software: Technology
            technology: Technology
            medical: Healthcare
            services: Consulting
            consulting: Consulting
        employees: NumberOfEmployees
        subsidiary_of: { field: ParentId, reference: company }
";

    fn mapping() -> EntityMapping {
        let config = from_yaml(INTEGRATION, "customer: acme\ncrm: salesforce\n");
        config.entities["company"].clone()
    }

    fn crm(pairs: &[(&str, Value)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn crm_fields_become_agent_fields_and_statuses() {
        let values = crm(&[
            ("Name", Value::Text("Acme".into())),
            ("Industry", Value::Text("Healthcare".into())),
            ("NumberOfEmployees", Value::Number(40.0)),
        ]);
        let inbound = reverse(&mapping(), &values);
        assert_eq!(inbound.key.as_deref(), Some("Acme"));
        assert_eq!(inbound.fields["sector"], Value::Text("medical".into()));
        assert_eq!(inbound.fields["employees"], Value::Number(40.0));
        assert_eq!(inbound.fields["name"], Value::Text("Acme".into()));
        assert!(inbound.notes.is_empty());
        assert!(!inbound.fields.contains_key("subsidiary_of"));
    }

    #[test]
    fn the_agent_value_spelled_like_the_crm_value_wins() {
        let values = crm(&[("Industry", Value::Text("Technology".into()))]);
        let inbound = reverse(&mapping(), &values);
        assert_eq!(inbound.fields["sector"], Value::Text("technology".into()));
    }

    #[test]
    fn an_unmapped_value_says_so() {
        let values = crm(&[("Industry", Value::Text("Energy".into()))]);
        let inbound = reverse(&mapping(), &values);
        assert_eq!(inbound.fields["sector"], Value::Text("Energy".into()));
        assert_eq!(inbound.notes.len(), 1);
        assert_eq!(inbound.notes[0].reason, "unmapped");
    }

    #[test]
    fn an_ambiguous_value_names_its_candidates() {
        let mut mapping = mapping();
        let sector = mapping.fields.get_mut("sector").expect("sector is mapped");
        sector.values.remove("consulting");
        sector.values.insert("advisory".into(), "Consulting".into());
        let values = crm(&[("Industry", Value::Text("Consulting".into()))]);
        let inbound = reverse(&mapping, &values);
        assert_eq!(inbound.fields["sector"], Value::Text("Consulting".into()));
        assert_eq!(inbound.notes[0].reason, "ambiguous");
        assert_eq!(inbound.notes[0].candidates, ["advisory", "services"]);
    }

    #[test]
    fn reads_ask_for_the_match_field_and_plain_fields() {
        let fields = read_fields(&mapping());
        assert_eq!(fields[0], "Name");
        assert!(fields.contains(&"Industry".to_owned()));
        assert!(!fields.contains(&"ParentId".to_owned()));
    }
}
