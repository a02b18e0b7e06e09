//! Custom objects declared in the profile, with their schemas: the object is reached by its
//! name, its `objectTypeId` (`2-…`) or its fully qualified name (`p{portal}_{name}`), answers
//! like the built-in objects, and `GET /crm/v3/schemas` lists the schemas.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::profile::CustomProperty;
use super::{Org, error};

/// The portal id in fully qualified names.
pub(crate) const PORTAL_ID: u64 = 8_675_309;

/// A custom object, from the profile's `custom_objects`:
///
/// ```yaml
/// custom_objects:
///   - name: sales_activities
///     labels: { singular: Sales activity, plural: Sales activities }
///     primary_display_property: title
///     required_properties: [title]
///     properties:                   # custom_properties' shape without object_type
///       - { name: title, label: Title }
///       - { name: minutes, label: Minutes, type: number }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomObjectSchema {
    /// The object's name, used in paths.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// The property shown as the record's name; the first property if not set.
    #[serde(default)]
    pub primary_display_property: Option<String>,
    /// Properties a create must set.
    #[serde(default)]
    pub required_properties: Vec<String>,
    /// Its properties, in `custom_properties`' shape without `object_type`; without `type`
    /// a property is text, and not unique unless it says so.
    #[serde(default)]
    pub properties: Vec<CustomProperty>,
}

/// Singular and plural labels.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// e.g. `Sales activity`.
    pub singular: String,
    /// e.g. `Sales activities`.
    pub plural: String,
}

impl CustomObjectSchema {
    /// Its object type id: `2-` and a number given in declaration order.
    pub fn object_type_id(&self, index: usize) -> String {
        format!("2-{}", 1000 + index)
    }

    /// Its properties as profile custom properties on `self.name`.
    pub fn custom_properties(&self) -> Vec<CustomProperty> {
        self.properties
            .iter()
            .map(|p| CustomProperty {
                object_type: self.name.clone(),
                kind: Some(p.kind.clone().unwrap_or_else(|| "string".to_owned())),
                unique: Some(p.unique.unwrap_or(false)),
                ..p.clone()
            })
            .collect()
    }

    /// The v3 schema answer.
    fn json(&self, index: usize, properties: &[Value]) -> Value {
        let primary = self
            .primary_display_property
            .clone()
            .or_else(|| self.properties.first().map(|p| p.name.clone()));
        json!({
            "id": (1000 + index).to_string(),
            "objectTypeId": self.object_type_id(index),
            "fullyQualifiedName": format!("p{PORTAL_ID}_{}", self.name),
            "name": self.name,
            "labels": self.labels,
            "primaryDisplayProperty": primary,
            "requiredProperties": self.required_properties,
            "searchableProperties": [],
            "secondaryDisplayProperties": [],
            "associations": [],
            "properties": properties,
            "archived": false,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "updatedAt": "2024-01-01T00:00:00.000Z",
        })
    }
}

/// The path segment names a custom object answers to, each mapped to its name.
pub(crate) fn aliases(objects: &[CustomObjectSchema]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (i, object) in objects.iter().enumerate() {
        map.insert(object.object_type_id(i), object.name.clone());
        let qualified = format!("p{PORTAL_ID}_{}", object.name);
        map.insert(qualified, object.name.clone());
    }
    map
}

/// Rewrites `/crm/v3/objects/{alias}/…` (and the v4 association paths) to the object's name,
/// so every handler sees one name for it.
pub(crate) fn rewrite(aliases: &BTreeMap<String, String>, mut request: Request) -> Request {
    if aliases.is_empty() {
        return request;
    }
    let path = request.uri().path();
    let mut changed = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| match aliases.get(segment) {
            Some(name) => {
                changed = true;
                name.clone()
            }
            None => segment.to_owned(),
        })
        .collect();
    if !changed || !path.starts_with("/crm/") {
        return request;
    }
    let mut rebuilt = segments.join("/");
    if let Some(query) = request.uri().query() {
        rebuilt = format!("{rebuilt}?{query}");
    }
    if let Ok(uri) = rebuilt.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

fn schema_of(org: &Org, index: usize, object: &CustomObjectSchema) -> Value {
    let properties = org.with_state(|s| {
        s.properties
            .get(&object.name)
            .map(|props| props.iter().map(|p| p.v3.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    });
    object.json(index, &properties)
}

/// `GET /crm/v3/schemas`: every custom object's schema.
pub(crate) async fn list(State(org): State<Arc<Org>>) -> Json<Value> {
    let results: Vec<Value> = org
        .custom_objects
        .iter()
        .enumerate()
        .map(|(i, o)| schema_of(&org, i, o))
        .collect();
    Json(json!({ "results": results }))
}

/// `GET /crm/v3/schemas/{objectType}`: one schema, by name, id or fully qualified name.
pub(crate) async fn get(State(org): State<Arc<Org>>, Path(object_type): Path<String>) -> Response {
    let aliases = aliases(&org.custom_objects);
    let name = aliases.get(&object_type).unwrap_or(&object_type);
    let found = org
        .custom_objects
        .iter()
        .enumerate()
        .find(|(_, o)| &o.name == name);
    match found {
        Some((i, object)) => Json(schema_of(&org, i, object)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to find object type {object_type}"),
            Map::new(),
        ),
    }
}
