//! Case-insensitive indexes on the fields a simulated org looks records up by:
//! unique and external id fields. Both CRMs compare those values ignoring
//! case, and both check uniqueness on every write, so without an index each
//! create scans every record of its object and loading a dataset is
//! quadratic.
//!
//! An index only narrows the search: callers still check each candidate with
//! the CRM's own comparison, so an index that returned too much would cost
//! time, never correctness.

use std::collections::{BTreeSet, HashMap};

/// Record keys by field and lowercased value, for one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueIndex<K> {
    by_field: HashMap<String, HashMap<String, BTreeSet<K>>>,
}

impl<K: Ord + Clone> ValueIndex<K> {
    /// Notes that the record `key` holds `value` in `field`.
    pub fn insert(&mut self, field: &str, value: &str, key: K) {
        self.by_field
            .entry(field.to_owned())
            .or_default()
            .entry(value.to_lowercase())
            .or_default()
            .insert(key);
    }

    /// Forgets that the record `key` holds `value` in `field`.
    pub fn remove(&mut self, field: &str, value: &str, key: &K) {
        let Some(values) = self.by_field.get_mut(field) else {
            return;
        };
        let lowered = value.to_lowercase();
        if let Some(keys) = values.get_mut(&lowered) {
            keys.remove(key);
            if keys.is_empty() {
                values.remove(&lowered);
            }
        }
    }

    /// The records that may hold `value` in `field`, in key order.
    pub fn candidates(&self, field: &str, value: &str) -> impl Iterator<Item = &K> {
        self.by_field
            .get(field)
            .and_then(|values| values.get(&value.to_lowercase()))
            .into_iter()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_follow_removals() {
        let mut index = ValueIndex::default();
        index.insert("External_Id__c", "AB-1", 2u64);
        index.insert("External_Id__c", "ab-1", 1u64);
        index.insert("External_Id__c", "AB-2", 3u64);

        let found: Vec<u64> = index
            .candidates("External_Id__c", "Ab-1")
            .copied()
            .collect();
        assert_eq!(found, vec![1, 2]);

        index.remove("External_Id__c", "AB-1", &2);
        let found: Vec<u64> = index
            .candidates("External_Id__c", "ab-1")
            .copied()
            .collect();
        assert_eq!(found, vec![1]);
        assert_eq!(index.candidates("Name", "ab-1").count(), 0);
    }
}
