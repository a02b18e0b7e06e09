//! The org's schema: embedded real describe responses, a `Task` derived from `Event`, the
//! profile's custom objects and fields and a minimal built-in `User`, and the describe
//! endpoints that serve it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::profile::{CustomField, CustomObject};
use super::store::Caller;
use super::{API_VERSION, Org, custom, task};

/// The embedded describe responses, by object name.
const DESCRIBES: [(&str, &str); 5] = [
    (
        "Account",
        include_str!("../../data/salesforce/describe/Account.describe.json"),
    ),
    (
        "Contact",
        include_str!("../../data/salesforce/describe/Contact.describe.json"),
    ),
    (
        "Lead",
        include_str!("../../data/salesforce/describe/Lead.describe.json"),
    ),
    (
        "Opportunity",
        include_str!("../../data/salesforce/describe/Opportunity.describe.json"),
    ),
    (
        "Event",
        include_str!("../../data/salesforce/describe/Event.describe.json"),
    ),
];

/// The embedded global describe.
const GLOBAL: &str = include_str!("../../data/salesforce/describe/_global.describe.json");

/// The parts of a describe field object that the write checks and SOQL use.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// API name, e.g. `StageName`.
    pub name: String,
    /// Label, used in error messages.
    pub label: String,
    /// Describe type, e.g. `picklist`, `reference`, `datetime`.
    pub kind: String,
    /// Maximum length of text types.
    pub length: u64,
    /// Whether a create may set it.
    pub createable: bool,
    /// Whether an update may set it.
    pub updateable: bool,
    /// Whether it may be null.
    pub nillable: bool,
    /// Whether Salesforce fills it on create when not sent.
    pub defaulted_on_create: bool,
    /// Whether values must be unique across the object's records.
    pub unique: bool,
    /// Whether it can be used as an upsert key.
    pub external_id: bool,
    /// Whether picklist values outside `picklist` are refused.
    pub restricted_picklist: bool,
    /// Active picklist values.
    pub picklist: Vec<String>,
    /// Objects a reference may point to.
    pub reference_to: Vec<String>,
    /// The value a create gets when it leaves the field out: the default picklist entry,
    /// or a boolean's `defaultValue`.
    pub default_value: Option<Value>,
}

impl Field {
    fn from_describe(raw: &Value) -> Option<Self> {
        let text = |key: &str| {
            raw.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let flag = |key: &str| raw.get(key).and_then(Value::as_bool).unwrap_or(false);
        let list = |key: &str| -> Vec<Value> {
            raw.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let name = raw.get("name")?.as_str()?.to_owned();
        let picklist = list("picklistValues")
            .iter()
            .filter(|v| v.get("active").and_then(Value::as_bool).unwrap_or(true))
            .filter_map(|v| v.get("value").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let reference_to = list("referenceTo")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let default_picklist = list("picklistValues")
            .iter()
            .find(|v| v.get("defaultValue").and_then(Value::as_bool) == Some(true))
            .and_then(|v| v.get("value").cloned());
        let default_value = match raw.get("defaultValue") {
            Some(Value::Bool(b)) => Some(json!(b)),
            _ => default_picklist,
        };
        Some(Self {
            name,
            label: text("label"),
            kind: text("type"),
            length: raw.get("length").and_then(Value::as_u64).unwrap_or(0),
            createable: flag("createable"),
            updateable: flag("updateable"),
            nillable: flag("nillable"),
            defaulted_on_create: flag("defaultedOnCreate"),
            unique: flag("unique"),
            external_id: flag("externalId"),
            restricted_picklist: flag("restrictedPicklist"),
            picklist,
            reference_to,
            default_value,
        })
    }

    /// Whether a create must carry a non-null value for this field.
    pub fn required_on_create(&self) -> bool {
        !self.nillable && self.createable && !self.defaulted_on_create && self.kind != "boolean"
    }
}

/// One sObject type of the org.
#[derive(Debug, Clone)]
pub(crate) struct SObject {
    /// API name, e.g. `Opportunity`.
    pub name: String,
    /// The three-character Id prefix, e.g. `006`.
    pub key_prefix: String,
    /// The fields, in describe order.
    pub fields: Vec<Field>,
    /// The full describe response served by `/describe`.
    pub describe: Value,
    /// Auto-number fields and their display formats.
    pub auto_numbers: Vec<(String, String)>,
}

impl SObject {
    /// Finds a field by name, case-insensitively as Salesforce does.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Whether records of this type have an owner.
    pub fn has_owner(&self) -> bool {
        self.field("OwnerId").is_some()
    }
}

/// Why a field could not be deleted or undeleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldChange {
    /// The object has no such field (or, to undelete, no such deleted field).
    NoSuchField,
    /// Standard fields cannot be deleted; only custom ones (`__c`).
    Standard,
}

fn named(entry: &Value, field: &str) -> bool {
    entry["name"]
        .as_str()
        .is_some_and(|n| n.eq_ignore_ascii_case(field))
}

/// Every sObject type of the org plus the global describe.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    /// Shared, as every write reads its object's schema while it changes the org's records.
    objects: BTreeMap<String, Arc<SObject>>,
    global: Value,
    /// Custom fields an admin deleted, by object and field name (lowercase), with their
    /// describe entries: Setup keeps them under Deleted Fields, where they can be undeleted.
    deleted: BTreeMap<(String, String), (Field, Value)>,
}

impl Schema {
    /// Builds the schema from the embedded describes, `Task`, the profile's custom objects
    /// and its custom fields. Fails on a custom field or lookup naming an unknown object.
    pub fn load(fields: &[CustomField], custom_objects: &[CustomObject]) -> anyhow::Result<Self> {
        let mut describes = BTreeMap::new();
        for (name, text) in DESCRIBES {
            let describe: Value = serde_json::from_str(&pin_version(text))
                .map_err(|e| anyhow::anyhow!("embedded describe of `{name}` is invalid: {e}"))?;
            describes.insert(name.to_owned(), describe);
        }
        let custom_names: Vec<String> = custom_objects.iter().map(|o| o.name.clone()).collect();
        let event = describes.get("Event").cloned().unwrap_or(Value::Null);
        describes.insert("Task".to_owned(), task::describe(&event, &custom_names));
        describes.insert("User".to_owned(), user_describe());
        let mut auto_numbers = BTreeMap::new();
        for (i, object) in custom_objects.iter().enumerate() {
            anyhow::ensure!(
                object.name.ends_with("__c") && !describes.contains_key(&object.name),
                "custom object `{}` needs a new name ending in `__c`",
                object.name
            );
            anyhow::ensure!(i < 100, "at most 100 custom objects are supported");
            let prefix = format!("a{i:02}");
            describes.insert(
                object.name.clone(),
                custom::object_describe(object, &prefix)?,
            );
            auto_numbers.insert(object.name.clone(), custom::auto_numbers(object));
        }
        let declared = custom_objects.iter().flat_map(|o| {
            let on = |f: &CustomField| CustomField {
                object: o.name.clone(),
                ..f.clone()
            };
            o.fields.iter().filter(|f| f.name != "Name").map(on)
        });
        for field in fields.iter().cloned().chain(declared) {
            let Some(describe) = describes.get_mut(&field.object) else {
                anyhow::bail!(
                    "custom field `{}` is on `{}`, which the simulator does not have",
                    field.name,
                    field.object
                );
            };
            if let Some(target) = field.reference_to.iter().find(|t| {
                !DESCRIBES.iter().any(|(n, _)| n == t)
                    && !custom_names.contains(t)
                    && !["Task", "User"].contains(&t.as_str())
            }) {
                anyhow::bail!(
                    "custom field `{}` on `{}` refers to `{target}`, which the simulator does \
                     not have",
                    field.name,
                    field.object
                );
            }
            if let Some(list) = describe.get_mut("fields").and_then(Value::as_array_mut) {
                list.push(field.describe());
            }
        }
        let mut global: Value = serde_json::from_str(&pin_version(GLOBAL))
            .map_err(|e| anyhow::anyhow!("embedded global describe is invalid: {e}"))?;
        let template = global_entry(&global, "Event");
        if let Some(list) = global.get_mut("sobjects").and_then(Value::as_array_mut) {
            for name in std::iter::once("Task".to_owned()).chain(custom_names) {
                if let Some(describe) = describes.get(&name) {
                    list.push(summary(&template, describe));
                }
            }
        }
        let objects = describes
            .into_iter()
            .map(|(name, describe)| {
                let mut object = SObject::from_describe(describe);
                object.auto_numbers = auto_numbers.remove(&name).unwrap_or_default();
                (name, Arc::new(object))
            })
            .collect();
        Ok(Self {
            objects,
            global,
            deleted: BTreeMap::new(),
        })
    }

    /// Finds an sObject type by name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&Arc<SObject>> {
        self.objects
            .values()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// Adds an active `value` to the picklist `field` of `object`, as an admin adding a value
    /// in Setup would: the describe lists it and writes accept it. False when there is no
    /// such picklist; true (and nothing changes) when the value is already there.
    pub fn add_picklist_value(&mut self, object: &str, field: &str, value: &str) -> bool {
        let Some(sobject) = self
            .objects
            .values_mut()
            .find(|o| o.name.eq_ignore_ascii_case(object))
        else {
            return false;
        };
        let sobject = Arc::make_mut(sobject);
        let Some(known) = sobject
            .fields
            .iter_mut()
            .find(|f| f.name.eq_ignore_ascii_case(field))
        else {
            return false;
        };
        if known.picklist.iter().any(|v| v == value) {
            return true;
        }
        known.picklist.push(value.to_owned());
        let entry = picklist_entries(&[value], None);
        let described = sobject
            .describe
            .get_mut("fields")
            .and_then(Value::as_array_mut)
            .and_then(|fields| {
                fields.iter_mut().find(|f| {
                    f["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(field))
                })
            })
            .and_then(|f| f.get_mut("picklistValues"))
            .and_then(Value::as_array_mut);
        if let (Some(values), Value::Array(entry)) = (described, entry) {
            values.extend(entry);
        }
        true
    }

    /// Deletes the custom field `field` of `object`, as an admin would in Setup: describe no
    /// longer lists it and writes naming it fail with `INVALID_FIELD`. Standard fields cannot
    /// be deleted.
    pub fn delete_field(&mut self, object: &str, field: &str) -> Result<(), FieldChange> {
        if !field.to_ascii_lowercase().ends_with("__c") {
            return Err(FieldChange::Standard);
        }
        let sobject = self.object_mut(object).ok_or(FieldChange::NoSuchField)?;
        let at = sobject
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(field))
            .ok_or(FieldChange::NoSuchField)?;
        let removed = sobject.fields.remove(at);
        let mut entry = Value::Null;
        if let Some(list) = sobject
            .describe
            .get_mut("fields")
            .and_then(Value::as_array_mut)
            && let Some(at) = list.iter().position(|f| named(f, field))
        {
            entry = list.remove(at);
        }
        let key = (
            sobject.name.to_ascii_lowercase(),
            field.to_ascii_lowercase(),
        );
        self.deleted.insert(key, (removed, entry));
        Ok(())
    }

    /// Undeletes a custom field deleted with [`delete_field`](Self::delete_field): it is
    /// described and writable again.
    pub fn undelete_field(&mut self, object: &str, field: &str) -> Result<(), FieldChange> {
        let key = (object.to_ascii_lowercase(), field.to_ascii_lowercase());
        let (restored, entry) = self.deleted.remove(&key).ok_or(FieldChange::NoSuchField)?;
        let Some(sobject) = self.object_mut(object) else {
            return Err(FieldChange::NoSuchField);
        };
        sobject.fields.push(restored);
        if let Some(list) = sobject
            .describe
            .get_mut("fields")
            .and_then(Value::as_array_mut)
            && !entry.is_null()
        {
            list.push(entry);
        }
        Ok(())
    }

    fn object_mut(&mut self, name: &str) -> Option<&mut SObject> {
        self.objects
            .values_mut()
            .find(|o| o.name.eq_ignore_ascii_case(name))
            .map(Arc::make_mut)
    }

    /// Finds the sObject type whose Ids start with `id`'s key prefix.
    pub fn object_for_id(&self, id: &str) -> Option<&Arc<SObject>> {
        let prefix = id.get(..3)?;
        self.objects.values().find(|o| o.key_prefix == prefix)
    }
}

impl SObject {
    fn from_describe(describe: Value) -> Self {
        let fields = describe
            .get("fields")
            .and_then(Value::as_array)
            .map(|fields| fields.iter().filter_map(Field::from_describe).collect())
            .unwrap_or_default();
        let text = |key: &str| {
            describe
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        Self {
            name: text("name").to_owned(),
            key_prefix: text("keyPrefix").to_owned(),
            fields,
            describe,
            auto_numbers: Vec::new(),
        }
    }
}

/// The global describe's entry for `name`, as a template for the objects it lacks.
fn global_entry(global: &Value, name: &str) -> Value {
    let list = global.get("sobjects").and_then(Value::as_array);
    let entry = list.and_then(|l| l.iter().find(|o| o["name"] == name));
    entry.cloned().unwrap_or_else(|| json!({}))
}

/// A global describe entry for `describe`, with `template`'s keys.
fn summary(template: &Value, describe: &Value) -> Value {
    let mut entry = template.clone();
    for key in [
        "name",
        "label",
        "labelPlural",
        "keyPrefix",
        "custom",
        "customSetting",
        "urls",
    ] {
        if let Some(value) = describe.get(key) {
            entry[key] = value.clone();
        }
    }
    entry
}

/// Sets each `(key, value)` on a describe field object.
pub(crate) fn set_keys<'a>(
    field: &mut Map<String, Value>,
    pairs: impl IntoIterator<Item = (&'a str, Value)>,
) {
    for (key, value) in pairs {
        field.insert(key.to_owned(), value);
    }
}

/// Describe `picklistValues` for `values`, with `default` marked as the default.
pub(crate) fn picklist_entries(values: &[&str], default: Option<&str>) -> Value {
    let entries = values.iter().map(|v| {
        json!({
            "active": true, "defaultValue": Some(*v) == default, "label": v, "validFor": null,
            "value": v,
        })
    });
    Value::Array(entries.collect())
}

/// Rewrites the recordings' API version in URLs to the one the simulator serves.
fn pin_version(text: &str) -> String {
    text.replace(
        "/services/data/v52.0/",
        &format!("/services/data/{API_VERSION}/"),
    )
}

/// A describe field object with every key a real one has, for custom and built-in fields.
pub(crate) fn field_describe(
    name: &str,
    label: &str,
    kind: &str,
    custom: bool,
) -> Map<String, Value> {
    let soap = match kind {
        "id" => "tns:ID",
        "reference" => "tns:ID",
        "boolean" => "xsd:boolean",
        "double" | "currency" | "percent" => "xsd:double",
        "int" => "xsd:int",
        "date" => "xsd:date",
        "datetime" => "xsd:dateTime",
        _ => "xsd:string",
    };
    let value = json!({
        "aggregatable": true, "aiPredictionField": false, "autoNumber": false, "byteLength": 0,
        "calculated": false, "calculatedFormula": null, "cascadeDelete": false,
        "caseSensitive": false, "compoundFieldName": null, "controllerName": null,
        "createable": true, "custom": custom, "defaultValue": null, "defaultValueFormula": null,
        "defaultedOnCreate": false, "dependentPicklist": false, "deprecatedAndHidden": false,
        "digits": 0, "displayLocationInDecimal": false, "encrypted": false, "externalId": false,
        "extraTypeInfo": null, "filterable": true, "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false, "groupable": true, "highScaleNumber": false,
        "htmlFormatted": false, "idLookup": false, "inlineHelpText": null, "label": label,
        "length": 0, "mask": null, "maskType": null, "name": name, "nameField": false,
        "namePointing": false, "nillable": true, "permissionable": custom, "picklistValues": [],
        "polymorphicForeignKey": false, "precision": 0, "queryByDistance": false,
        "referenceTargetField": null, "referenceTo": [], "relationshipName": null,
        "relationshipOrder": null, "restrictedDelete": false, "restrictedPicklist": false,
        "scale": 0, "searchPrefilterable": false, "soapType": soap, "sortable": true,
        "type": kind, "unique": false, "updateable": true, "writeRequiresMasterRead": false,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The minimal built-in `User` object: enough to query owners and to point `OwnerId` at.
fn user_describe() -> Value {
    let mut fields = Vec::new();
    for (name, label, kind, length) in [
        ("Id", "User ID", "id", 18),
        ("Username", "Username", "string", 80),
        ("Email", "Email", "email", 128),
        ("FirstName", "First Name", "string", 40),
        ("LastName", "Last Name", "string", 80),
        ("Name", "Full Name", "string", 121),
        ("IsActive", "Active", "boolean", 0),
    ] {
        let mut field = field_describe(name, label, kind, false);
        field.insert("length".into(), json!(length));
        field.insert("byteLength".into(), json!(length * 3));
        // The API cannot create users; the admin surface and `Org::add_user` can.
        field.insert("createable".into(), json!(false));
        field.insert("updateable".into(), json!(false));
        field.insert(
            "nillable".into(),
            json!(!matches!(name, "Id" | "Username" | "LastName")),
        );
        fields.push(Value::Object(field));
    }
    json!({
        "name": "User", "label": "User", "labelPlural": "Users", "keyPrefix": "005",
        "custom": false, "createable": false, "updateable": false, "deletable": false,
        "queryable": true, "retrieveable": true, "searchable": true, "layoutable": true,
        "fields": fields,
        "urls": {
            "sobject": format!("/services/data/{API_VERSION}/sobjects/User"),
            "describe": format!("/services/data/{API_VERSION}/sobjects/User/describe"),
            "rowTemplate": format!("/services/data/{API_VERSION}/sobjects/User/{{ID}}"),
        },
    })
}

/// `GET /services/data/vXX.X/sobjects`: the global describe.
pub(crate) async fn global(State(org): State<std::sync::Arc<Org>>) -> Json<Value> {
    Json(org.with_state(|s| s.schema.global.clone()))
}

/// `GET /services/data/vXX.X/sobjects/{Object}/describe`.
pub(crate) async fn object(
    State(org): State<std::sync::Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object): Path<String>,
) -> Result<Json<Value>, ApiError> {
    org.with_caller(&caller, |s| {
        let sobject = s.schema.object(&object)?;
        Some(s.describe_for_caller(&sobject.name, &sobject.describe))
    })
    .map(Json)
    .ok_or_else(|| ApiError::unknown_object(&object))
}
