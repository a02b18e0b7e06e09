//! Durable intake: every accepted intent is stored with its idempotency key
//! before it runs, and its outcome is stored in the same row, so that an
//! intent whose host stopped mid-batch is resumed, by the next start or by
//! another replica (see [`super::worker`]).
//!
//! A synchronous write stores its intents claimed by this replica and runs
//! them at once; a job stores them pending for the worker. Either way, an
//! intent runs through [`Pipeline::run_owned`] and is settled by the audit.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::idempotency::{self, Mode};
use super::{Pipeline, RecordError, RecordResult, Status, WriteIntent, audit, execute, order};
use crate::config::CustomerConfig;
use crate::record::Activity;
use crate::store::{Intake, JobAnswer, JobRecord};

/// An intent as stored: what the pipeline needs to run it again.
#[derive(Serialize, Deserialize)]
struct Stored {
    intent: WriteIntent,
    /// An activity's own data, which a record's JSON does not carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activity: Option<Activity>,
}

/// The stored form of `intent` (JSON).
pub(super) fn stored_intent(intent: &WriteIntent) -> String {
    let stored = Stored {
        intent: intent.clone(),
        activity: intent.activity.as_deref().cloned(),
    };
    // Every part of an intent is plain data; serializing it cannot fail.
    serde_json::to_string(&stored).unwrap_or_default()
}

/// The intent stored as `text`.
pub(super) fn parse_stored(text: &str) -> Result<WriteIntent, RecordError> {
    let stored: Stored = serde_json::from_str(text).map_err(|e| {
        RecordError::input(
            "internal",
            format!("the stored intent cannot be read: {e}"),
            None,
        )
    })?;
    let mut intent = stored.intent;
    intent.activity = stored.activity.map(Box::new);
    Ok(intent)
}

/// An intent this replica holds the claim of, to run.
pub(super) struct Owned {
    /// Its position in this run.
    pub index: usize,
    /// The key of its row: the agent's, or the host's for an intent sent
    /// without one. Empty in a dry run, which stores nothing.
    pub key: String,
    /// The intent.
    pub intent: WriteIntent,
    /// How many times it has been claimed, this time included.
    pub attempts: i64,
    /// Its position in its submission, which its stored answer names.
    pub ordinal: i64,
}

impl Owned {
    /// An intent claimed for the first time, at `index` of its submission.
    pub fn new(index: usize, key: String, intent: WriteIntent) -> Self {
        Owned {
            index,
            key,
            intent,
            attempts: 1,
            ordinal: index as i64,
        }
    }
}

/// The row of an intent being settled.
pub(super) struct Row {
    pub key: String,
    pub attempts: i64,
    pub ordinal: i64,
}

impl Pipeline {
    /// The claim of a synchronous write: held by this replica, which runs
    /// its intents at once.
    pub(super) fn sync_intake(&self) -> Intake {
        Intake {
            job_id: None,
            claimed_by: Some(self.intake.worker.clone()),
            lease_until: Some(self.lease_until()),
        }
    }

    /// When a claim made now runs out unless renewed.
    pub(super) fn lease_until(&self) -> String {
        let lease = chrono::Duration::from_std(self.intake.lease).unwrap_or_default();
        crate::store::timestamp(Utc::now() + lease)
    }

    /// Stores a job's intents, pending for the worker, and the job itself
    /// once they all are. A record that cannot run (malformed, a reused
    /// key) is answered in the job at once; one whose key an earlier intent
    /// of the same record holds follows that intent's outcome.
    pub async fn submit_job(
        &self,
        config: &CustomerConfig,
        intents: Vec<Result<WriteIntent, RecordError>>,
        created_by: &str,
    ) -> anyhow::Result<JobRecord> {
        let job = JobRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            customer: config.customer.clone(),
            total: intents.len() as i64,
            created_by: created_by.to_owned(),
            created_at: self.store.now(),
        };

        let mut answers = Vec::new();
        let mut parsed = Vec::with_capacity(intents.len());
        for (index, intent) in intents.into_iter().enumerate() {
            match intent {
                Ok(intent) => parsed.push((index, intent)),
                Err(e) => answers.push(answer(RecordResult::failed(index, None, None, e))),
            }
        }
        // Records that others of the job name run first; `ordinal` keeps
        // each answer in the agent's order.
        let ranks = order::Ranks::new(config);
        parsed.sort_by_key(|(_, intent)| ranks.of(intent));
        let intake = Intake {
            job_id: Some(job.id.clone()),
            ..Intake::default()
        };
        let claimed =
            idempotency::claim(&self.store, &config.customer, parsed, Mode::Store(&intake)).await;
        let earlier: HashMap<usize, String> = claimed.earlier.into_iter().collect();
        for result in claimed.answered {
            match earlier.get(&result.index) {
                Some(key) => answers.push(JobAnswer {
                    ordinal: result.index as i64,
                    key: Some(key.clone()),
                    result: None,
                }),
                None => answers.push(answer(result)),
            }
        }

        self.store.put_job(&job, &answers).await?;
        info!(customer = %job.customer, job = %job.id, records = job.total, "job accepted");
        self.intake.wake.notify_one();
        Ok(job)
    }

    /// Runs intents this replica holds, then audits them and stores their
    /// outcomes; a deferred intent goes back to pending and answers
    /// `pending`.
    pub(super) async fn run_owned(
        &self,
        config: Arc<CustomerConfig>,
        owned: Vec<Owned>,
    ) -> Vec<RecordResult> {
        let mut rows = HashMap::with_capacity(owned.len());
        let mut intents = Vec::with_capacity(owned.len());
        for o in owned {
            let row = Row {
                key: o.key,
                attempts: o.attempts,
                ordinal: o.ordinal,
            };
            rows.insert(o.index, row);
            intents.push((o.index, o.intent));
        }
        let mut results = execute::run(self, config.clone(), intents, false).await;
        audit::finish(self, &config, &mut results, &rows).await;
        results
    }
}

/// A job's answer for a record that does not run.
fn answer(result: RecordResult) -> JobAnswer {
    let value = serde_json::to_value(&result).unwrap_or_default();
    let status = result.status.as_str().to_owned();
    JobAnswer {
        ordinal: result.index as i64,
        key: result.idempotency_key,
        result: Some((status, value)),
    }
}

impl Status {
    /// The status as the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Planned => "planned",
            Status::Pending => "pending",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Operation, Value};

    #[test]
    fn a_stored_intent_reads_back_as_it_was() -> Result<(), RecordError> {
        let intent = WriteIntent {
            entity: "contact".into(),
            operation: Operation::Upsert,
            key: Some("ada@example.com".into()),
            fields: [("score".to_owned(), Value::Number(7.0))].into(),
            acting_for: Some("rep@example.com".into()),
            idempotency_key: Some("k1".into()),
            activity: None,
        };
        assert_eq!(parse_stored(&stored_intent(&intent))?, intent);
        Ok(())
    }

    #[test]
    fn an_unreadable_stored_intent_fails_alone_with_why() {
        let error = parse_stored("{}").expect_err("no intent");
        assert!(error.message.contains("stored intent"), "{}", error.message);
    }
}
