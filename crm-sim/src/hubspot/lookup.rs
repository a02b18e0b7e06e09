//! Finding a portal's records by unique property values through the
//! portal's [`ValueIndex`], kept in step with every write.
//!
//! HubSpot refuses a second record with the same unique value (`email` of a
//! contact, any property declared unique) and reads records by such a value
//! (`idProperty`). Both go through here.

use serde_json::{Map, Value};

use super::PortalState;
use crate::index::ValueIndex;

/// Whether `name` is unique for `object_type`: contacts' `email`, and any
/// property declared unique except the record id itself.
pub(crate) fn is_unique(s: &PortalState, object_type: &str, name: &str) -> bool {
    if name == "email" && object_type == "contacts" {
        return true;
    }
    s.properties
        .get(object_type)
        .is_some_and(|props| props.iter().any(|p| p.name == name && p.unique))
        && name != "hs_object_id"
}

/// Ids of `object_type` records that may hold `value` in the unique
/// property `name`, in id order; callers compare each with the real rule.
pub(crate) fn candidates(s: &PortalState, object_type: &str, name: &str, value: &str) -> Vec<u64> {
    s.index
        .get(object_type)
        .map(|index| index.candidates(name, value).copied().collect())
        .unwrap_or_default()
}

/// Adds (`add`) or removes a record's unique values in the index.
pub(crate) fn index_values(
    s: &mut PortalState,
    object_type: &str,
    id: u64,
    properties: &Map<String, Value>,
    add: bool,
) {
    let unique: Vec<(String, String)> = properties
        .iter()
        .filter(|(name, _)| is_unique(s, object_type, name))
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect();
    let index: &mut ValueIndex<u64> = s.index.entry(object_type.to_owned()).or_default();
    for (name, value) in unique {
        if add {
            index.insert(&name, &value, id);
        } else {
            index.remove(&name, &value, &id);
        }
    }
}
