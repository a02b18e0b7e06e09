//! The customer's CRM schema as discovered from the org: which fields exist,
//! their types, whether the integration user may write them, and the values a
//! picklist allows.
//!
//! Both CRMs are read into one model ([`ObjectSchema`]) so the rest of the
//! host, and plugins, need not know which CRM a customer is on.

mod coerce;
mod hubspot;
mod salesforce;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use coerce::{CoerceRules, Coerced, FieldError, TooLong, coerce, coerce_with, read_value};
pub use hubspot::{hubspot_object, hubspot_pipelines_options};
pub use salesforce::salesforce_object;

/// How a CRM types a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Short text.
    Text,
    /// Long text.
    Textarea,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A URL.
    Url,
    /// An integer or decimal.
    Number,
    /// An amount of money.
    Currency,
    /// A percentage.
    Percent,
    /// A checkbox.
    Boolean,
    /// A calendar day.
    Date,
    /// An instant.
    Datetime,
    /// One value from a list.
    Picklist,
    /// Several values from a list.
    MultiPicklist,
    /// A link to another record.
    Reference,
    /// The record's own id.
    Id,
    /// Anything the host does not write (compound addresses, blobs).
    Other,
}

/// One allowed value of a picklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PicklistValue {
    /// The stored value (a HubSpot stage id, a Salesforce API value).
    pub value: String,
    /// What people see.
    pub label: String,
    /// False for values kept only for old records.
    pub active: bool,
}

/// A field of a CRM object as discovered in the customer's org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// API name.
    pub name: String,
    /// Label people see.
    pub label: String,
    /// Type.
    pub kind: FieldType,
    /// The integration user may set it on create.
    pub createable: bool,
    /// The integration user may change it on update.
    pub updateable: bool,
    /// The CRM requires a value on create.
    pub required: bool,
    /// Allowed values, for picklists.
    pub picklist_values: Vec<PicklistValue>,
    /// Whether values outside `picklist_values` are refused.
    pub restricted: bool,
    /// The objects a reference may point to.
    pub reference_to: Vec<String>,
    /// Maximum text length, where the CRM sets one.
    pub length: Option<u32>,
    /// Whether the field holds whole numbers only (Salesforce `int`). Such a
    /// field refuses a fraction, where decimal fields round to their scale.
    #[serde(default)]
    pub integer: bool,
    /// Whether the CRM holds at most one record per value (external ids,
    /// HubSpot unique properties), so it can serve as a match key.
    pub unique: bool,
    /// Whether the field only moves forward through its options, in their
    /// order (HubSpot `lifecyclestage`): the CRM silently ignores a move back.
    #[serde(default)]
    pub forward_only: bool,
}

impl FieldSchema {
    /// A writable, optional field of `kind` with no picklist, length or
    /// other constraint; set the rest with struct update syntax. For tests
    /// and hand-made schemas: discovered ones come from the CRM's describe.
    pub fn new(name: &str, kind: FieldType) -> Self {
        FieldSchema {
            name: name.to_owned(),
            label: name.to_owned(),
            kind,
            createable: true,
            updateable: true,
            required: false,
            picklist_values: Vec::new(),
            restricted: false,
            reference_to: Vec::new(),
            length: None,
            unique: false,
            integer: false,
            forward_only: false,
        }
    }

    /// Whether the integration user may write this field for an operation
    /// that creates (`creating`) or changes a record.
    pub fn writable(&self, creating: bool) -> bool {
        if creating {
            self.createable
        } else {
            self.updateable
        }
    }
}

/// A CRM object as discovered in the customer's org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectSchema {
    /// API name, e.g. `Opportunity` or `deals`.
    pub name: String,
    /// The fields the integration user can see, by API name.
    pub fields: BTreeMap<String, FieldSchema>,
}

impl ObjectSchema {
    /// The field with this API name.
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.get(name)
    }
}

/// Where the plugin runtime and the planner read a customer's schema from.
pub trait SchemaLookup: Send + Sync {
    /// The schema of `object`, if the customer's org has it.
    fn object(&self, object: &str) -> Option<ObjectSchema>;
}

/// A customer's discovered schema, all objects the config touches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrgSchema {
    /// Objects by API name.
    pub objects: BTreeMap<String, ObjectSchema>,
    /// Every object the org has, from the global describe: how a label or
    /// a custom object's name without `__c` is told apart from an API name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalog: Vec<ObjectInfo>,
}

/// One object of the org, as the global describe lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// API name.
    pub name: String,
    /// Label people see.
    pub label: String,
    /// Plural label.
    #[serde(default)]
    pub label_plural: String,
    /// A custom object (`__c`).
    #[serde(default)]
    pub custom: bool,
}

impl SchemaLookup for OrgSchema {
    fn object(&self, object: &str) -> Option<ObjectSchema> {
        self.objects.get(object).cloned()
    }
}
