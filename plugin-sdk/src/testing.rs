//! Run plugin logic natively in `cargo test`, with no wasm runtime.
//!
//! [`FakeHost`] stands in for the host: it serves the schemas and settings
//! you give it and records every log line, so a test can assert on them.
//!
//! ```
//! use conduit_plugin_sdk::testing::FakeHost;
//! use conduit_plugin_sdk::{Host, LogLevel, Value};
//!
//! let host = FakeHost::new().with_setting("commit_threshold", 5000.0);
//! assert_eq!(host.setting("commit_threshold"), Some(Value::Number(5000.0)));
//! host.log(LogLevel::Debug, "hello");
//! assert!(host.logged("hello"));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::{
    Activity, ActivityKind, FieldSchema, FieldType, Host, LogLevel, ObjectSchema, PicklistValue,
    Value,
};

/// A [`Host`] for native tests: fixed schemas and settings, recorded logs.
#[derive(Debug, Default)]
pub struct FakeHost {
    schemas: BTreeMap<String, ObjectSchema>,
    settings: BTreeMap<String, Value>,
    logs: RefCell<Vec<(LogLevel, String)>>,
}

impl FakeHost {
    /// A host with no schema, no settings and no logs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The host, also serving `schema` for the object it names.
    pub fn with_schema(mut self, schema: ObjectSchema) -> Self {
        self.schemas.insert(schema.name.clone(), schema);
        self
    }

    /// The host, also serving the setting `key`.
    pub fn with_setting(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.settings.insert(key.to_owned(), value.into());
        self
    }

    /// Every line logged so far, in order.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.borrow().clone()
    }

    /// Whether any line logged so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs
            .borrow()
            .iter()
            .any(|(_, line)| line.contains(needle))
    }
}

impl Host for FakeHost {
    fn log(&self, level: LogLevel, msg: &str) {
        self.logs.borrow_mut().push((level, msg.to_owned()));
    }

    fn schema(&self, object: &str) -> Option<ObjectSchema> {
        self.schemas.get(object).cloned()
    }

    fn setting(&self, key: &str) -> Option<Value> {
        self.settings.get(key).cloned()
    }
}

/// A restricted picklist field whose options have these labels, each
/// stored as its label: the usual shape of a Salesforce picklist.
pub fn picklist(name: &str, labels: &[&str]) -> FieldSchema {
    let picklist_values = labels
        .iter()
        .map(|label| PicklistValue {
            value: (*label).to_owned(),
            label: (*label).to_owned(),
            active: true,
        })
        .collect();
    FieldSchema {
        name: name.to_owned(),
        label: name.to_owned(),
        kind: FieldType::Picklist,
        createable: true,
        updateable: true,
        required: false,
        picklist_values,
        restricted: true,
        reference_to: Vec::new(),
        length: None,
    }
}

/// An activity of `kind` at `occurred_at`, with nothing else set.
pub fn activity(kind: ActivityKind, occurred_at: &str) -> Activity {
    Activity {
        kind,
        subtype: None,
        subject: None,
        body: None,
        occurred_at: occurred_at.to_owned(),
        duration_seconds: None,
        direction: None,
        outcome: None,
        acting_for: None,
        related: Vec::new(),
        fields: Vec::new(),
    }
}
