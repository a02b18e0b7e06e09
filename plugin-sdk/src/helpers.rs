//! Ergonomic helpers on the contract's types: reading fields by name, typed
//! views of a [`Value`], picklist lookups and error constructors.

use std::fmt;

use crate::{
    Activity, ActivityKind, AgentRecord, CrmRecord, CrmWrite, Field, FieldSchema, Host,
    ObjectSchema, Operation, PicklistValue, PluginError, Value,
};

/// The value of the field called `name` in a field list.
fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| &field.value)
}

/// `text` lowercased without spaces, `-` and `_`, for loose comparison.
fn plain(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Sets `name` to `value`, replacing the field when it is already there so a
/// field never appears twice.
fn set(fields: &mut Vec<Field>, name: &str, value: Value) {
    match fields.iter_mut().find(|field| field.name == name) {
        Some(field) => field.value = value,
        None => fields.push(Field::new(name, value)),
    }
}

impl Value {
    /// The text, when this is [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The number, when this is [`Value::Number`].
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The flag, when this is [`Value::Boolean`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }

    /// The items, when this is [`Value::Multi`].
    pub fn as_multi(&self) -> Option<&[String]> {
        match self {
            Value::Multi(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Number(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Boolean(flag)
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Self {
        Value::Multi(items)
    }
}

impl Field {
    /// A field called `name` holding `value`.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl AgentRecord {
    /// An empty record of `entity` for an upsert, for tests and fixtures.
    pub fn new(entity: impl Into<String>) -> Self {
        AgentRecord {
            entity: entity.into(),
            operation: Operation::Upsert,
            key: None,
            acting_for: None,
            fields: Vec::new(),
        }
    }

    /// The record with `name` set to `value`, for building fixtures.
    pub fn with_field(mut self, name: &str, value: impl Into<Value>) -> Self {
        set(&mut self.fields, name, value.into());
        self
    }

    /// The value of the agent field `name`, when the agent sent it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        find(&self.fields, name)
    }

    /// The agent field `name` when it holds text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_text)
    }

    /// The agent field `name` when it holds a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.field(name).and_then(Value::as_number)
    }

    /// Sets the agent field `name`, replacing any value it had.
    pub fn set_field(&mut self, name: &str, value: impl Into<Value>) {
        set(&mut self.fields, name, value.into());
    }
}

impl CrmWrite {
    /// A write that always creates a record of `object`, with no fields yet.
    pub fn new(object: impl Into<String>) -> Self {
        CrmWrite {
            object: object.into(),
            reference_id: None,
            match_key: None,
            fields: Vec::new(),
            associations: Vec::new(),
        }
    }

    /// The value this write sets on the CRM field `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        find(&self.fields, name)
    }

    /// Sets the CRM field `name`, replacing any value the draft had.
    pub fn set_field(&mut self, name: &str, value: impl Into<Value>) {
        set(&mut self.fields, name, value.into());
    }

    /// Removes the CRM field `name` from the write, returning its value.
    pub fn remove_field(&mut self, name: &str) -> Option<Value> {
        let index = self.fields.iter().position(|field| field.name == name)?;
        Some(self.fields.remove(index).value)
    }

    /// Sets the picklist `field` of this write's object to the option named
    /// `wanted` (see [`FieldSchema::option_named`]), as the customer's
    /// discovered schema lists it. An org without the field, or without such
    /// an option, is an error naming what the org has, with `code`.
    pub fn set_option(
        &mut self,
        host: &dyn Host,
        field: &str,
        wanted: &str,
        code: &str,
    ) -> Result<(), PluginError> {
        let schema = host.schema(&self.object).ok_or_else(|| {
            PluginError::new(code, format!("the org has no `{}` object", self.object))
        })?;
        let Some(picklist) = schema.field(field) else {
            let message = format!("`{}` has no field `{field}` in the org", self.object);
            return Err(PluginError::new(code, message).with_field(field));
        };
        let Some(option) = picklist.option_named(wanted) else {
            let options: Vec<String> = picklist
                .picklist_values
                .iter()
                .filter(|entry| entry.active)
                .map(|entry| match entry.label == entry.value {
                    true => entry.value.clone(),
                    false => format!("{} ({})", entry.label, entry.value),
                })
                .collect();
            let message = format!(
                "`{wanted}` is not a value of `{}.{field}`; the org has: {}",
                self.object,
                options.join(", ")
            );
            return Err(PluginError::new(code, message).with_field(field));
        };
        let value = option.value.clone();
        self.set_field(field, value);
        Ok(())
    }
}

impl CrmRecord {
    /// The value read for the CRM field `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        find(&self.fields, name)
    }
}

impl Activity {
    /// The value of the extra agent field `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        find(&self.fields, name)
    }
}

impl ObjectSchema {
    /// The field with API name `name`, when the integration user can see it.
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|field| field.name == name)
    }
}

impl FieldSchema {
    /// The picklist entry whose stored value is `value`, active or not.
    pub fn picklist_value(&self, value: &str) -> Option<&PicklistValue> {
        self.picklist_values
            .iter()
            .find(|entry| entry.value == value)
    }

    /// Whether `value` is an active picklist value, i.e. one a write may set.
    pub fn allows(&self, value: &str) -> bool {
        self.picklist_value(value).is_some_and(|entry| entry.active)
    }

    /// The active picklist entry whose value or label is `wanted`, compared
    /// ignoring case, spaces, `-` and `_`: an agent's `discovery call` finds
    /// `Discovery Call` and `discovery_call`. Read from the discovered
    /// schema, so a value the customer adds is found after re-discovery.
    pub fn option_named(&self, wanted: &str) -> Option<&PicklistValue> {
        let wanted = plain(wanted);
        self.picklist_values
            .iter()
            .filter(|entry| entry.active)
            .find(|entry| plain(&entry.value) == wanted || plain(&entry.label) == wanted)
    }

    /// The stored values a write may set, in the CRM's order, for messages.
    pub fn allowed_values(&self) -> Vec<&str> {
        let active = self.picklist_values.iter().filter(|entry| entry.active);
        active.map(|entry| entry.value.as_str()).collect()
    }
}

impl PluginError {
    /// An error with a stable `code` the agent can act on and a `message`
    /// about its input.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The error, naming the agent or CRM field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActivityKind::Call => "call",
            ActivityKind::Email => "email",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Task => "task",
            ActivityKind::Note => "note",
        })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
        };
        f.write_str(name)
    }
}
