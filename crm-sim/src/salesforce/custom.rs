//! Describes of the profile's custom fields and custom objects, built with every key the real
//! describes have, so that clients that read describes see nothing unusual.

use serde_json::{Map, Value, json};

use super::API_VERSION;
use super::describe::{field_describe, picklist_entries, set_keys};
use super::profile::{CustomField, CustomObject};

/// The embedded describe of a real custom object, whose object-level keys custom objects copy.
const TEMPLATE: &str = include_str!("../../data/salesforce/describe/Custom__c.describe.json");

/// The label Salesforce derives from an API name: `Sales_Activity__c` → `Sales Activity`.
pub(crate) fn label_of(name: &str) -> String {
    name.trim_end_matches("__c").replace('_', " ")
}

impl CustomField {
    /// The describe field object for this field.
    pub(crate) fn describe(&self) -> Value {
        let label = self.label.clone().unwrap_or_else(|| label_of(&self.name));
        if self.kind == "autonumber" {
            return Value::Object(auto_number(&self.name, &label));
        }
        let custom = self.name.ends_with("__c");
        let mut field = field_describe(&self.name, &label, &self.kind, custom);
        let text = matches!(
            self.kind.as_str(),
            "string" | "textarea" | "picklist" | "multipicklist" | "email" | "phone" | "url"
        );
        let length = match self.kind.as_str() {
            "reference" => 18,
            _ if text => self.length.unwrap_or(255),
            _ => 0,
        };
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        let numeric = matches!(self.kind.as_str(), "double" | "currency" | "percent");
        let relationship =
            (self.kind == "reference").then(|| format!("{}__r", self.name.trim_end_matches("__c")));
        set_keys(
            &mut field,
            [
                ("length", json!(length)),
                ("byteLength", json!(length * 3)),
                ("unique", json!(self.unique)),
                ("externalId", json!(self.external_id)),
                ("idLookup", json!(self.external_id || self.unique)),
                ("nillable", json!(!self.required && self.kind != "boolean")),
                ("defaultedOnCreate", json!(self.kind == "boolean")),
                (
                    "defaultValue",
                    if self.kind == "boolean" {
                        json!(false)
                    } else {
                        Value::Null
                    },
                ),
                ("restrictedPicklist", json!(self.restricted)),
                ("picklistValues", picklist_entries(&values, None)),
                ("precision", json!(if numeric { 18 } else { 0 })),
                ("scale", json!(if numeric { 2 } else { 0 })),
                ("digits", json!(if self.kind == "int" { 18 } else { 0 })),
                ("referenceTo", json!(self.reference_to)),
                ("relationshipName", json!(relationship)),
            ],
        );
        Value::Object(field)
    }
}

/// An auto-number `Name`: a read-only text field Salesforce fills on create.
fn auto_number(name: &str, label: &str) -> Map<String, Value> {
    let mut field = field_describe(name, label, "string", false);
    set_keys(
        &mut field,
        [
            ("autoNumber", json!(true)),
            ("length", json!(30)),
            ("byteLength", json!(90)),
            ("createable", json!(false)),
            ("updateable", json!(false)),
            ("nillable", json!(false)),
            ("defaultedOnCreate", json!(true)),
            ("nameField", json!(true)),
            ("idLookup", json!(true)),
        ],
    );
    field
}

/// A field Salesforce maintains itself: read-only, never null, filled on create.
fn system_field(name: &str, label: &str, kind: &str, reference: Option<(&[&str], &str)>) -> Value {
    let mut field = field_describe(name, label, kind, false);
    let length = if matches!(kind, "id" | "reference") {
        18
    } else {
        0
    };
    set_keys(
        &mut field,
        [
            ("createable", json!(false)),
            ("updateable", json!(false)),
            ("nillable", json!(false)),
            ("defaultedOnCreate", json!(true)),
            ("length", json!(length)),
            ("byteLength", json!(length)),
            ("idLookup", json!(kind == "id")),
        ],
    );
    if kind == "boolean" {
        field.insert("defaultValue".into(), json!(false));
    }
    if let Some((to, relationship)) = reference {
        field.insert("referenceTo".into(), json!(to));
        field.insert("relationshipName".into(), json!(relationship));
    }
    Value::Object(field)
}

/// The standard fields every custom object has, with `name` as its `Name` field.
fn standard_fields(name: Value) -> Vec<Value> {
    let mut owner = field_describe("OwnerId", "Owner ID", "reference", false);
    set_keys(
        &mut owner,
        [
            ("length", json!(18)),
            ("byteLength", json!(18)),
            ("nillable", json!(false)),
            ("defaultedOnCreate", json!(true)),
            ("referenceTo", json!(["Group", "User"])),
            ("relationshipName", json!("Owner")),
            ("polymorphicForeignKey", json!(true)),
        ],
    );
    let user: &[&str] = &["User"];
    vec![
        system_field("Id", "Record ID", "id", None),
        Value::Object(owner),
        system_field("IsDeleted", "Deleted", "boolean", None),
        name,
        system_field("CreatedDate", "Created Date", "datetime", None),
        system_field(
            "CreatedById",
            "Created By ID",
            "reference",
            Some((user, "CreatedBy")),
        ),
        system_field("LastModifiedDate", "Last Modified Date", "datetime", None),
        system_field(
            "LastModifiedById",
            "Last Modified By ID",
            "reference",
            Some((user, "LastModifiedBy")),
        ),
        system_field("SystemModstamp", "System Modstamp", "datetime", None),
    ]
}

/// The text `Name` a custom object has unless the profile declares another.
fn text_name(label: &str) -> Value {
    let mut field = field_describe("Name", &format!("{label} Name"), "string", false);
    set_keys(
        &mut field,
        [
            ("length", json!(80)),
            ("byteLength", json!(240)),
            ("nameField", json!(true)),
            ("idLookup", json!(true)),
        ],
    );
    Value::Object(field)
}

/// The sObject and describe URLs of `object`.
pub(crate) fn urls(object: &str) -> Value {
    let base = format!("/services/data/{API_VERSION}/sobjects/{object}");
    json!({
        "sobject": base,
        "describe": format!("{base}/describe"),
        "rowTemplate": format!("{base}/{{ID}}"),
    })
}

/// The full describe of a custom object with key prefix `prefix`. Its declared fields come
/// in through the profile's custom fields, so only a declared `Name` is used here.
pub(crate) fn object_describe(object: &CustomObject, prefix: &str) -> anyhow::Result<Value> {
    let mut describe: Value = serde_json::from_str(TEMPLATE)
        .map_err(|e| anyhow::anyhow!("embedded custom object describe is invalid: {e}"))?;
    let label = object
        .label
        .clone()
        .unwrap_or_else(|| label_of(&object.name));
    let name = object
        .fields
        .iter()
        .find(|f| f.name == "Name")
        .map(CustomField::describe)
        .unwrap_or_else(|| text_name(&label));
    for (key, value) in [
        ("name", json!(object.name)),
        ("label", json!(label)),
        ("labelPlural", json!(label)),
        ("keyPrefix", json!(prefix)),
        ("custom", json!(true)),
        ("customSetting", json!(false)),
        ("mergeable", json!(false)),
        ("urls", urls(&object.name)),
        ("fields", Value::Array(standard_fields(name))),
    ] {
        describe[key] = value;
    }
    Ok(describe)
}

/// The auto-number formats of `object`'s fields: (field, display format).
pub(crate) fn auto_numbers(object: &CustomObject) -> Vec<(String, String)> {
    let fields = object.fields.iter().filter(|f| f.kind == "autonumber");
    let format = |f: &CustomField| f.display_format.clone().unwrap_or_else(|| "{0}".into());
    fields.map(|f| (f.name.clone(), format(f))).collect()
}

/// The `n`th value of an auto-number with `format`: `SA-{0000}` → `SA-0042`.
pub(crate) fn auto_number_value(format: &str, n: u64) -> String {
    let Some(open) = format.find('{') else {
        return format!("{format}{n}");
    };
    let Some(close) = format[open..].find('}').map(|c| open + c) else {
        return format!("{format}{n}");
    };
    let width = close - open - 1;
    format!("{}{n:0>width$}{}", &format[..open], &format[close + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_numbers_are_padded_to_the_format() {
        assert_eq!(auto_number_value("SA-{0000}", 42), "SA-0042");
        assert_eq!(auto_number_value("{0}", 7), "7");
        assert_eq!(auto_number_value("N", 3), "N3");
    }
}
