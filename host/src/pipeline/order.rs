//! The order records of one batch are written in: a record that refers to
//! another record of the same batch (a deal naming a company the batch also
//! creates) goes after it, so the reference finds the record the batch just
//! wrote instead of failing with `reference_not_found`.
//!
//! Records fall into levels: level 0 refers to nothing in the batch, level
//! `n` to records of lower levels. The batch is matched and planned in this
//! order, each parent before the records that name it, and
//! [`super::dispatch`] sends those that name a record the batch creates
//! after it. A batch with no such references is one level, as if this
//! module did not exist.

use std::collections::{HashMap, HashSet};

use super::execute::Work;
use super::{RecordError, WriteIntent};
use crate::config::CustomerConfig;
use crate::record::{MatchKey, Target};

/// A record's identity as a reference target: object, key field and key
/// value, compared ignoring case as both CRMs compare keys.
pub(super) type KeyRef = (String, String, String);

pub(super) fn key_ref(object: &str, key: &MatchKey) -> KeyRef {
    (
        object.to_owned(),
        key.field.clone(),
        key.value.to_string().to_lowercase(),
    )
}

/// The keys the records of a batch are found by, so that references to
/// them can be told apart from references to records already in the CRM.
pub(super) fn batch_keys(work: &[Work]) -> HashSet<KeyRef> {
    work.iter()
        .filter_map(|w| {
            let write = &w.prepared.write;
            write
                .match_key
                .as_ref()
                .map(|key| key_ref(&write.object, key))
        })
        .collect()
}

/// Whether `key` on `object` is the match key of a record of the batch.
pub(super) fn in_batch(keys: &HashSet<KeyRef>, object: &str, key: &MatchKey) -> bool {
    keys.contains(&key_ref(object, key))
}

/// Splits a batch into levels, in the order they must be written. Records
/// that refer to each other in a cycle, or to a record on one, cannot be
/// ordered: they fail, in a level of their own.
pub(super) fn levels(work: Vec<Work>) -> Vec<Vec<Work>> {
    let mut index: HashMap<KeyRef, Vec<usize>> = HashMap::new();
    for (i, w) in work.iter().enumerate() {
        let write = &w.prepared.write;
        if let Some(key) = &write.match_key {
            index
                .entry(key_ref(&write.object, key))
                .or_default()
                .push(i);
        }
    }

    // Edges from each parent to the records that refer to it.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); work.len()];
    let mut waiting_on = vec![0usize; work.len()];
    for (i, w) in work.iter().enumerate() {
        let mut parents: Vec<usize> = w
            .prepared
            .write
            .associations
            .iter()
            .filter_map(|a| match &a.target {
                Target::Lookup(key) => index.get(&key_ref(&a.object, key)),
                _ => None,
            })
            .flatten()
            .copied()
            .filter(|&p| p != i)
            .collect();
        parents.sort_unstable();
        parents.dedup();
        waiting_on[i] = parents.len();
        for p in parents {
            children[p].push(i);
        }
    }

    // Kahn's algorithm, a level at a time.
    let mut level_of: Vec<Option<usize>> = vec![None; work.len()];
    let mut current: Vec<usize> = (0..work.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut depth = 0;
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            level_of[i] = Some(depth);
            for &c in &children[i] {
                waiting_on[c] -= 1;
                if waiting_on[c] == 0 {
                    next.push(c);
                }
            }
        }
        current = next;
        depth += 1;
    }

    let mut levels: Vec<Vec<Work>> = (0..=depth).map(|_| Vec::new()).collect();
    for (i, mut w) in work.into_iter().enumerate() {
        match level_of[i] {
            Some(level) => levels[level].push(w),
            None => {
                w.fail(RecordError::input(
                    "reference_cycle",
                    "records of this batch refer to each other in a cycle; \
                     send one of them first, without the reference"
                        .into(),
                    None,
                ));
                levels[depth].push(w);
            }
        }
    }
    levels.retain(|level| !level.is_empty());
    levels
}

/// The order a job's intents run in, as ranks: an entity whose fields name
/// no other entity runs first (0), one whose fields name entities of rank
/// `n` runs at `n + 1`, and activities, which relate to records of any
/// entity, after every entity. Claimed in batches, a job's records then
/// find the records of the job they name, written by an earlier batch. A
/// cycle of references counts for nothing.
pub(super) struct Ranks {
    entities: HashMap<String, usize>,
    activities: usize,
}

impl Ranks {
    pub(super) fn new(config: &CustomerConfig) -> Self {
        let entities = entity_ranks(config);
        let activities = entities.values().max().map_or(0, |last| last + 1);
        Ranks {
            entities,
            activities,
        }
    }

    /// `intent`'s rank; 0 for an entity the config does not map.
    pub(super) fn of(&self, intent: &WriteIntent) -> usize {
        if intent.activity.is_some() {
            return self.activities;
        }
        self.entities.get(&intent.entity).copied().unwrap_or(0)
    }
}

fn entity_ranks(config: &CustomerConfig) -> HashMap<String, usize> {
    fn rank(
        config: &CustomerConfig,
        entity: &str,
        ranks: &mut HashMap<String, usize>,
        visiting: &mut HashSet<String>,
    ) -> usize {
        if let Some(known) = ranks.get(entity) {
            return *known;
        }
        let Some(mapping) = config.entities.get(entity) else {
            return 0;
        };
        if !visiting.insert(entity.to_owned()) {
            return 0;
        }
        let below = mapping
            .fields
            .values()
            .filter_map(|f| f.reference.as_deref())
            .filter(|target| *target != entity)
            .map(|target| rank(config, target, ranks, visiting) + 1)
            .max()
            .unwrap_or(0);
        visiting.remove(entity);
        ranks.insert(entity.to_owned(), below);
        below
    }

    let mut ranks = HashMap::new();
    for entity in config.entities.keys() {
        rank(config, entity, &mut ranks, &mut HashSet::new());
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::WriteIntent;
    use crate::pipeline::prepare::Prepared;
    use crate::record::{Association, CrmWrite, Fields, Operation, Value};

    fn work(index: usize, key: &str, refers_to: &[&str]) -> Work {
        let key_of = |value: &str| MatchKey {
            field: "Name".into(),
            value: Value::Text(value.into()),
        };
        let associations = refers_to
            .iter()
            .map(|parent| Association {
                object: "Account".into(),
                target: Target::Lookup(key_of(parent)),
                via: Some("ParentId".into()),
            })
            .collect();
        let write = CrmWrite {
            object: "Account".into(),
            reference_id: None,
            match_key: Some(key_of(key)),
            fields: Fields::new(),
            associations,
        };
        let intent = WriteIntent {
            entity: "company".into(),
            operation: Operation::Upsert,
            key: Some(key.into()),
            fields: Fields::new(),
            acting_for: None,
            idempotency_key: None,
            activity: None,
        };
        let prepared = Prepared {
            index,
            intent,
            write,
            sources: Default::default(),
            defaults: Fields::new(),
            notes: Default::default(),
            unmapped: Vec::new(),
        };
        Work::new(prepared)
    }

    fn shape(levels: &[Vec<Work>]) -> Vec<Vec<(usize, bool)>> {
        levels
            .iter()
            .map(|l| l.iter().map(|w| (w.prepared.index, w.ok())).collect())
            .collect()
    }

    #[test]
    fn parents_come_before_the_records_that_name_them() {
        // 0 refers to 1, which refers to 2 (lowercased: keys ignore case).
        let batch = vec![
            work(0, "Child", &["parent"]),
            work(1, "Parent", &["Root"]),
            work(2, "Root", &[]),
        ];
        let levels = levels(batch);
        assert_eq!(
            shape(&levels),
            [vec![(2, true)], vec![(1, true)], vec![(0, true)]]
        );
    }

    #[test]
    fn a_batch_without_references_between_its_records_is_one_level() {
        let batch = vec![
            work(0, "A", &["Elsewhere"]),
            work(1, "B", &[]),
            work(2, "C", &["C"]),
        ];
        assert_eq!(
            shape(&levels(batch)),
            [vec![(0, true), (1, true), (2, true)]]
        );
    }

    #[test]
    fn records_on_a_cycle_fail_and_the_rest_go_on() {
        let batch = vec![
            work(0, "A", &["B"]),
            work(1, "B", &["A"]),
            work(2, "C", &[]),
        ];
        let levels = levels(batch);
        assert_eq!(
            shape(&levels),
            [vec![(2, true)], vec![(0, false), (1, false)]]
        );
        let error = levels[1][0].error.as_ref().map(|e| e.code.as_str());
        assert_eq!(error, Some("reference_cycle"));
    }
}
