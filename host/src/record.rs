//! The records that flow through the write path: what the agent sends, and
//! the CRM writes the host derives from it.
//!
//! These types mirror the plugin contract (`wit/plugin.wit`) so that a record
//! crosses into a plugin and back without losing anything.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One field value, typed the way CRMs type their fields.
///
/// Agents send JSON, which has no dates: a date arrives as text and becomes a
/// [`Value::Date`] only when the schema check coerces it for a date field.
/// Serialized, a date is `YYYY-MM-DD` and a datetime RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// An explicit empty value: clears the field where the mapping allows it.
    Null,
    /// A boolean.
    Boolean(bool),
    /// Any number; CRMs send and accept numbers as JSON numbers.
    Number(f64),
    /// A calendar day.
    Date(NaiveDate),
    /// An instant in UTC.
    DateTime(DateTime<Utc>),
    /// Free text, picklist values and CRM ids.
    Text(String),
    /// The items of a multi-select picklist.
    Multi(Vec<String>),
}

impl Value {
    /// Whether this value counts as empty for `fill_if_empty`: null, blank
    /// text or an empty multi-select.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(text) => text.trim().is_empty(),
            Value::Multi(items) => items.is_empty(),
            _ => false,
        }
    }

    /// The value as text, when it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The name of this value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Number(_) => "number",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::Text(_) => "text",
            Value::Multi(_) => "multi-select",
        }
    }
}

/// What an agent may send as a field value, for error messages.
pub const ACCEPTED_VALUES: &str = "text, a number, a boolean, null or a list of text";

/// Reads the JSON shapes an agent may send; dates stay text until coerced.
///
/// A visitor rather than an untagged enum, so that a value of the wrong shape
/// says what is accepted instead of "did not match any variant".
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ACCEPTED_VALUES)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Boolean(b))
    }

    // CRMs take every number as a JSON number: integers become `f64` too.
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        Ok(Value::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        Ok(Value::Text(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(Value::Multi(items))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::DateTime(t) => write!(f, "{}", t.to_rfc3339()),
            Value::Text(t) => f.write_str(t),
            Value::Multi(items) => f.write_str(&items.join(";")),
        }
    }
}

/// Named values, ordered by name so plans and payloads are deterministic.
pub type Fields = BTreeMap<String, Value>;

/// What the agent asked the host to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create a new record.
    Create,
    /// Change an existing record.
    Update,
    /// Update the matching record, or create it when none matches.
    Upsert,
}

/// A record as the agent sent it, in the agent's own vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent's entity: `contact`, `company`, `deal`, `lead` or custom.
    pub entity: String,
    /// The requested operation.
    pub operation: Operation,
    /// The value of the entity's match key (an external id), when sent.
    pub key: Option<String>,
    /// The email of the rep the agent acts for.
    pub acting_for: Option<String>,
    /// The agent's fields, by agent field name.
    pub fields: Fields,
}

/// How a write finds the CRM record it updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchKey {
    /// The CRM field compared.
    pub field: String,
    /// The value that field must hold.
    pub value: Value,
}

/// The record at the other end of an association.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A record already in the CRM, by its id.
    CrmId(String),
    /// Another write of the same record's plan, by its reference id.
    Reference(String),
    /// A record found by a match key on the association's object.
    Lookup(MatchKey),
}

/// A link from the written record to another record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Association {
    /// The CRM object of the other record.
    pub object: String,
    /// Which record that is.
    pub target: Target,
    /// Salesforce: the lookup field to set. HubSpot: the association label,
    /// none for the default association.
    pub via: Option<String>,
}

/// One write the host will make in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmWrite {
    /// The CRM object API name.
    pub object: String,
    /// A name other writes of the same plan can refer to.
    pub reference_id: Option<String>,
    /// How to find the existing record; none means always create.
    pub match_key: Option<MatchKey>,
    /// CRM fields to write, by API name.
    pub fields: Fields,
    /// Links to other records.
    pub associations: Vec<Association>,
}

/// The kinds of activity an agent logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A phone or video call.
    Call,
    /// An email sent or received.
    Email,
    /// A meeting.
    Meeting,
    /// A to-do.
    Task,
    /// A free-form note.
    Note,
}

impl ActivityKind {
    /// Every kind, in the order the API documents them.
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Call,
        ActivityKind::Email,
        ActivityKind::Meeting,
        ActivityKind::Task,
        ActivityKind::Note,
    ];

    /// The kind as the API and the config spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Email => "email",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Task => "task",
            ActivityKind::Note => "note",
        }
    }

    /// The config entity an activity of this kind maps through:
    /// `activity.call` for the `activities: call:` section.
    pub fn entity(self) -> String {
        format!("{ACTIVITY_PREFIX}{}", self.as_str())
    }
}

/// What the names of activity entities start with; agent entities never
/// hold a dot.
pub const ACTIVITY_PREFIX: &str = "activity.";

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record an activity relates to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedRecord {
    /// The agent entity, e.g. `contact`.
    pub entity: String,
    /// How to find it.
    pub target: Target,
}

/// An activity as the agent sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// What kind of activity this is.
    pub kind: ActivityKind,
    /// The customer's finer category.
    pub subtype: Option<String>,
    /// One-line summary.
    pub subject: Option<String>,
    /// Notes or body.
    pub body: Option<String>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Length in seconds.
    pub duration_seconds: Option<u32>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// The result of the activity.
    pub outcome: Option<String>,
    /// The email of the rep the agent acts for.
    pub acting_for: Option<String>,
    /// Related contact, company and deal.
    pub related: Vec<RelatedRecord>,
    /// Any further agent fields.
    pub fields: Fields,
}

/// A record read from the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmRecord {
    /// The CRM object API name.
    pub object: String,
    /// The CRM id.
    pub id: String,
    /// The fields read, by CRM API name.
    pub fields: Fields,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(json: serde_json::Value) -> Result<Value, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn every_accepted_shape_parses() -> serde_json::Result<()> {
        assert_eq!(parse(json!(null))?, Value::Null);
        assert_eq!(parse(json!(true))?, Value::Boolean(true));
        assert_eq!(parse(json!(2822))?, Value::Number(2822.0));
        assert_eq!(parse(json!(-3))?, Value::Number(-3.0));
        assert_eq!(parse(json!(1100.04))?, Value::Number(1100.04));
        assert_eq!(
            parse(json!("2017-03-01"))?,
            Value::Text("2017-03-01".into())
        );
        assert_eq!(
            parse(json!(["a", "b"]))?,
            Value::Multi(vec!["a".into(), "b".into()])
        );
        Ok(())
    }

    #[test]
    fn an_object_is_refused_with_the_accepted_shapes() {
        let error = parse(json!({ "nested": true })).expect_err("an object is no value");
        let message = error.to_string();
        assert!(message.contains(ACCEPTED_VALUES), "{message}");
        assert!(!message.contains("variant"), "{message}");
    }

    #[test]
    fn a_list_holds_only_text() {
        let error = parse(json!(["a", 1])).expect_err("a number is no list item");
        assert!(error.to_string().contains("expected a string"), "{error}");
    }

    #[test]
    fn null_in_fields_is_an_explicit_empty_value() -> serde_json::Result<()> {
        let fields: Fields = serde_json::from_value(json!({ "a": null }))?;
        assert_eq!(fields.get("a"), Some(&Value::Null));
        Ok(())
    }
}
