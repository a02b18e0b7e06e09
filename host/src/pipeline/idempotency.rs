//! Idempotency: a record sent again with the key it was first sent with is
//! answered with its first outcome and never written twice.
//!
//! A key belongs to one intent. The store keeps a fingerprint of the intent
//! a key was first claimed for, so the same key with a different record is
//! refused (`idempotency_key_reused`) rather than answered with another
//! record's outcome; and a key used twice in one batch fails its second
//! record (`duplicate_idempotency_key`).

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::intake::{Owned, stored_intent};
use super::{RecordError, RecordResult, WriteIntent};
use crate::store::{Intake, KeyClaim, NewIntent, Store};

/// What claiming a batch's keys decided.
#[derive(Default)]
pub(super) struct Claimed {
    /// Records this request now owns, to run through the pipeline.
    pub run: Vec<Owned>,
    /// Records already answered: replays and refusals.
    pub answered: Vec<RecordResult>,
    /// Of the answered records, those whose answer is the outcome of an
    /// earlier intent with the same key and record: by index, with the key.
    pub earlier: Vec<(usize, String)>,
}

/// How keys are claimed.
pub(super) enum Mode<'a> {
    /// A dry run: only looks, so the plan says what a real run would
    /// answer, and takes no key.
    Look,
    /// A real run: every intent is stored with its key before it runs. An
    /// intent without a key gets one of the host's, which its answer does
    /// not show.
    Store(&'a Intake),
}

/// The prefix of the keys the host gives intents sent without one.
const HOST_KEY_PREFIX: &str = "~host-";

/// Claims the keys of `intents` for `customer`.
pub(super) async fn claim(
    store: &Store,
    customer: &str,
    intents: Vec<(usize, WriteIntent)>,
    mode: Mode<'_>,
) -> Claimed {
    let mut claimed = Claimed::default();

    // 1. A key twice in one batch: the first record has it. Without a key,
    //    a dry run looks nothing up; a real run stores it under the host's.
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(intents.len());
    for (index, intent) in intents {
        let key = match (&intent.idempotency_key, &mode) {
            (Some(key), _) => key.clone(),
            (None, Mode::Look) => {
                claimed.run.push(Owned::new(index, String::new(), intent));
                continue;
            }
            (None, Mode::Store(_)) => format!("{HOST_KEY_PREFIX}{}", uuid::Uuid::new_v4()),
        };
        if seen.insert(key.clone()) {
            unique.push((index, intent, key));
        } else {
            let message =
                format!("idempotency key `{key}` is used by an earlier record of this batch");
            let error = RecordError::input("duplicate_idempotency_key", message, key_field());
            claimed.answered.push(fail(index, &intent, error));
        }
    }
    if unique.is_empty() {
        return claimed;
    }

    // 2. The store decides who owns each key.
    // The intake runs the intents in the order given here.
    let rows: Vec<NewIntent> = unique
        .iter()
        .enumerate()
        .map(|(at, (index, intent, key))| NewIntent {
            key: key.clone(),
            fingerprint: fingerprint(intent),
            intent: stored_intent(intent),
            ordinal: *index as i64,
            run_order: at as i64,
        })
        .collect();
    let claims = match mode {
        Mode::Look => {
            let keys: Vec<(String, String)> = rows
                .iter()
                .map(|r| (r.key.clone(), r.fingerprint.clone()))
                .collect();
            store.peek_keys(customer, &keys).await
        }
        Mode::Store(intake) => store.claim_keys(customer, intake, &rows).await,
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => {
            for (index, intent, _) in unique {
                let error =
                    RecordError::input("store_unavailable", format!("{e:#}"), None).retryable();
                claimed.answered.push(fail(index, &intent, error));
            }
            return claimed;
        }
    };

    // 3. Replays, refusals and the records to run.
    for ((index, intent, key), (claim, row)) in unique.into_iter().zip(claims.into_iter().zip(rows))
    {
        let reused =
            |stored: &Option<String>| stored.as_ref().is_some_and(|s| *s != row.fingerprint);
        match claim {
            KeyClaim::Claimed => claimed.run.push(Owned::new(index, key, intent)),
            KeyClaim::Done { fingerprint, .. } | KeyClaim::InFlight { fingerprint }
                if reused(&fingerprint) =>
            {
                let message = format!(
                    "idempotency key `{key}` was first used for a different record; \
                     send a new key for a new write"
                );
                let error = RecordError::input("idempotency_key_reused", message, key_field());
                claimed.answered.push(fail(index, &intent, error));
            }
            KeyClaim::Done { result, .. } => {
                claimed.earlier.push((index, key));
                claimed.answered.push(replayed(index, result, &intent))
            }
            KeyClaim::InFlight { .. } => {
                let message = format!("a write with idempotency key `{key}` is still in progress");
                let error = RecordError::input("in_flight", message, key_field()).retryable();
                claimed.earlier.push((index, key));
                claimed.answered.push(fail(index, &intent, error));
            }
        }
    }
    claimed
}

/// A hash of what the intent asks for, its key aside: the same record sent
/// again has the same fingerprint. Fields are a sorted map, so the JSON is
/// canonical.
fn fingerprint(intent: &WriteIntent) -> String {
    let mut intent = intent.clone();
    intent.idempotency_key = None;
    let mut canonical = serde_json::to_vec(&intent).unwrap_or_default();
    // An activity's related records are not among its fields.
    if let Some(activity) = &intent.activity {
        canonical.extend(serde_json::to_vec(activity).unwrap_or_default());
    }
    hex::encode(Sha256::digest(&canonical))
}

fn key_field() -> Option<String> {
    Some("idempotency_key".into())
}

pub(super) fn fail(index: usize, intent: &WriteIntent, error: RecordError) -> RecordResult {
    RecordResult {
        key: intent.key.clone(),
        ..RecordResult::failed(
            index,
            intent.idempotency_key.clone(),
            Some(intent.entity.clone()),
            error,
        )
    }
}

fn replayed(index: usize, stored: serde_json::Value, intent: &WriteIntent) -> RecordResult {
    match serde_json::from_value::<RecordResult>(stored) {
        Ok(mut result) => {
            result.index = index;
            result.replayed = true;
            result
        }
        Err(e) => fail(
            index,
            intent,
            RecordError::input("internal", format!("stored outcome unreadable: {e}"), None),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Operation, Value};

    fn intent(amount: f64) -> WriteIntent {
        WriteIntent {
            entity: "deal".into(),
            operation: Operation::Upsert,
            key: Some("D1".into()),
            fields: [("amount".to_owned(), Value::Number(amount))].into(),
            acting_for: None,
            idempotency_key: Some("k1".into()),
            activity: None,
        }
    }

    #[test]
    fn a_fingerprint_ignores_the_key_and_sees_every_field() {
        let mut other_key = intent(10.0);
        other_key.idempotency_key = Some("k2".into());
        assert_eq!(fingerprint(&intent(10.0)), fingerprint(&other_key));
        assert_ne!(fingerprint(&intent(10.0)), fingerprint(&intent(11.0)));
    }
}
