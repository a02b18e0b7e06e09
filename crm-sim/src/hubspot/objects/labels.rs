//! Association labels a portal defines (`USER_DEFINED` types) beside HubSpot's own default
//! types, and `GET /crm/v4/associations/{from}/{to}/labels`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::associations::association_type;
use crate::hubspot::{Org, PortalState};

/// A label from the profile's `association_labels`:
///
/// ```yaml
/// association_labels:
///   - { from: calls, to: contacts, label: Decision maker, type_id: 1001 }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssociationLabel {
    /// The object type the link goes from.
    pub from: String,
    /// The object type it goes to.
    pub to: String,
    /// The label.
    pub label: String,
    /// Its association type id.
    pub type_id: u32,
}

fn label_of<'a>(s: &'a PortalState, from: &str, to: &str, type_id: u32) -> Option<&'a str> {
    s.labels
        .iter()
        .find(|l| l.from == from && l.to == to && l.type_id == type_id)
        .map(|l| l.label.as_str())
}

/// Whether `type_id` links `from` to `to`: HubSpot's default type or one of the portal's labels.
pub(super) fn allowed(s: &PortalState, from: &str, to: &str, type_id: u32) -> bool {
    association_type(from, to) == Some(type_id) || label_of(s, from, to, type_id).is_some()
}

/// The v4 `{category, typeId, label}` of a link.
pub(super) fn spec(s: &PortalState, from: &str, to: &str, type_id: u32) -> Value {
    match label_of(s, from, to, type_id) {
        Some(label) => json!({"category": "USER_DEFINED", "typeId": type_id, "label": label}),
        None => json!({"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}),
    }
}

/// `GET /crm/v4/associations/{from}/{to}/labels`: the default type and the portal's labels.
pub(crate) async fn list_labels(
    State(org): State<Arc<Org>>,
    Path((from, to)): Path<(String, String)>,
) -> Json<Value> {
    org.with_state(|s| {
        let mut results: Vec<Value> = association_type(&from, &to)
            .map(|id| spec(s, &from, &to, id))
            .into_iter()
            .collect();
        let own = s.labels.iter().filter(|l| l.from == from && l.to == to);
        results.extend(own.map(|l| spec(s, &from, &to, l.type_id)));
        Json(json!({ "results": results }))
    })
}
