//! The org's schema: embedded real describe responses plus the profile's custom fields and a
//! minimal built-in `User`, and the describe endpoints that serve it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::profile::CustomField;
use super::{API_VERSION, Org};

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

/// Every sObject type of the org plus the global describe.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    objects: BTreeMap<String, SObject>,
    global: Value,
}

impl Schema {
    /// Builds the schema from the embedded describes and the profile's custom fields.
    pub fn load(custom_fields: &[CustomField]) -> anyhow::Result<Self> {
        let mut objects = BTreeMap::new();
        for (name, text) in DESCRIBES {
            let mut describe: Value = serde_json::from_str(&pin_version(text))
                .map_err(|e| anyhow::anyhow!("embedded describe of `{name}` is invalid: {e}"))?;
            for custom in custom_fields.iter().filter(|c| c.object == name) {
                if let Some(fields) = describe.get_mut("fields").and_then(Value::as_array_mut) {
                    fields.push(custom.describe());
                }
            }
            objects.insert(name.to_owned(), SObject::from_describe(describe));
        }
        objects.insert("User".to_owned(), SObject::from_describe(user_describe()));
        if let Some(unknown) = custom_fields
            .iter()
            .find(|c| !objects.contains_key(&c.object))
        {
            anyhow::bail!(
                "custom field `{}` is on `{}`, which the simulator does not have",
                unknown.name,
                unknown.object
            );
        }
        let global = serde_json::from_str(&pin_version(GLOBAL))
            .map_err(|e| anyhow::anyhow!("embedded global describe is invalid: {e}"))?;
        Ok(Self { objects, global })
    }

    /// Finds an sObject type by name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&SObject> {
        self.objects
            .values()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// Finds the sObject type whose Ids start with `id`'s key prefix.
    pub fn object_for_id(&self, id: &str) -> Option<&SObject> {
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
        }
    }
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
    Path(object): Path<String>,
) -> Result<Json<Value>, ApiError> {
    org.with_state(|s| s.schema.object(&object).map(|o| o.describe.clone()))
        .map(Json)
        .ok_or_else(|| ApiError::unknown_object(&object))
}
