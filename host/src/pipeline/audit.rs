//! Auditing: every record's entry and what became of its intent, stored in
//! one transaction before the answer goes back to the agent.

use std::collections::HashMap;

use chrono::Utc;

use super::intake::Row;
use super::sending::OUTCOME_UNKNOWN;
use super::{Pipeline, RecordResult, Status, deferral};
use crate::config::CustomerConfig;
use crate::export::Decision;
use crate::store::{AuditEntry, HostWrite, Settled, Settlement};
use crate::sync::echo::canonical;

/// Audits every record and settles the intents of `rows` (by the results'
/// index): a final outcome is stored, a deferred intent goes back to
/// pending and its answer says `pending`.
///
/// An outcome that wrote nothing is released: the agent can fix the cause
/// (add the rep, correct the value) and send the same key again. A create
/// whose answer was lost (`crm_outcome_unknown`) may exist and keeps its
/// failure, so that sending the key again cannot make it twice; one a retry
/// finds by its match key or `crm_key` has a CRM id and is settled as such.
pub(super) async fn finish(
    pipeline: &Pipeline,
    config: &CustomerConfig,
    results: &mut [RecordResult],
    rows: &HashMap<usize, Row>,
) {
    let now = Utc::now();
    let created_at = crate::store::timestamp(now);
    let plugin = config
        .plugin
        .as_ref()
        .map(|p| format!("{}@{}", p.name, p.version));
    let mut entries = Vec::with_capacity(results.len());
    let mut settled = Vec::with_capacity(results.len());
    for r in results.iter_mut() {
        entries.push(AuditEntry {
            id: 0,
            customer: config.customer.clone(),
            idempotency_key: r.idempotency_key.clone(),
            entity: r.entity.clone().unwrap_or_default(),
            record_key: r.key.clone(),
            object: r.object.clone(),
            crm_id: r.crm_id.clone(),
            status: r.status.as_str().to_owned(),
            error_code: r.error.as_ref().map(|e| e.code.clone()),
            config_version: config.version.clone(),
            plugin: plugin.clone(),
            decisions: serde_json::to_value(&r.fields).unwrap_or_default(),
            error: r.error.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            created_at: created_at.clone(),
        });
        let Some(row) = rows.get(&r.index) else {
            continue;
        };
        settled.push(Settled {
            customer: config.customer.clone(),
            key: row.key.clone(),
            outcome: settle(r, row, now),
        });
    }
    // What the host wrote is recorded first, so that a read of these
    // records right after the answer already knows them for its own.
    let writes = host_writes(results);
    if let Err(e) = pipeline
        .store()
        .note_host_writes(&config.customer, &writes, &created_at)
        .await
    {
        tracing::warn!(
            error = %format!("{e:#}"),
            "could not record the host's writes; reads may report them as changes"
        );
    }

    // The CRM has the writes: a busy or briefly failing database must not
    // lose their audit, so the transaction is tried again before giving up.
    let mut last = None;
    for wait in std::iter::once(std::time::Duration::ZERO).chain(AUDIT_RETRIES) {
        tokio::time::sleep(wait).await;
        match pipeline.store().record_batch(&entries, &settled).await {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
    }
    // Still failing: the intents stay claimed without an outcome, so a
    // retry answers `in_flight` rather than writing the records a second
    // time; they resume when this replica restarts, or on another one once
    // this one has stopped.
    if let Some(e) = last {
        tracing::error!(error = %format!("{e:#}"), "could not store the audit of a batch");
    }
}

/// What becomes of the intent whose result is `result`. Its stored answer
/// names its position in its submission.
fn settle(result: &mut RecordResult, row: &Row, now: chrono::DateTime<Utc>) -> Settlement {
    if let Some(at) = deferral::deferred_until(result, row.attempts, now) {
        result.status = Status::Pending;
        let error = serde_json::to_value(&result.error).unwrap_or_default();
        tracing::info!(
            key = %row.key,
            not_before = %at,
            "record deferred until the CRM takes writes again"
        );
        return Settlement::Deferred {
            not_before: crate::store::timestamp(at),
            error,
        };
    }
    let mut stored = result.clone();
    stored.index = usize::try_from(row.ordinal).unwrap_or(result.index);
    Settlement::Done {
        result: serde_json::to_value(&stored).unwrap_or_default(),
        status: result.status.as_str().to_owned(),
        released: wrote_nothing(result),
    }
}

/// Whether `result` failed without writing anything, so its key can be
/// sent again: not when the CRM may hold a create whose answer was lost.
fn wrote_nothing(result: &RecordResult) -> bool {
    let unknown = result
        .error
        .as_ref()
        .is_some_and(|e| e.code == OUTCOME_UNKNOWN);
    result.status == Status::Failed && result.crm_id.is_none() && !unknown
}

/// The fields each created or updated record was sent, for echo
/// suppression.
fn host_writes(results: &[RecordResult]) -> Vec<HostWrite> {
    results
        .iter()
        .filter(|r| matches!(r.status, Status::Created | Status::Updated))
        .filter_map(|r| {
            let fields = r
                .fields
                .iter()
                .filter(|d| d.decision == Decision::Write)
                .map(|d| (d.field.clone(), canonical(&d.value)))
                .collect();
            Some(HostWrite {
                object: r.object.clone()?,
                crm_id: r.crm_id.clone()?,
                fields,
            })
        })
        .collect()
}

/// The waits before each new attempt to store a batch's audit.
const AUDIT_RETRIES: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(50),
    std::time::Duration::from_millis(250),
    std::time::Duration::from_millis(1000),
];

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::pipeline::LIMIT_REACHED;
    use crate::pipeline::RecordError;

    fn row() -> Row {
        Row {
            key: "k".into(),
            attempts: 1,
            ordinal: 7,
        }
    }

    #[test]
    fn a_spent_allocation_goes_back_to_pending_until_its_retry_time() {
        let now = Utc::now();
        let mut error = RecordError::input(LIMIT_REACHED, "spent".into(), None).retryable();
        error.retry_at = Some(now + Duration::minutes(10));
        let mut result = RecordResult::failed(0, Some("k".into()), None, error);

        let settled = settle(&mut result, &row(), now);
        let Settlement::Deferred { not_before, error } = settled else {
            panic!("not deferred: {settled:?}");
        };
        assert_eq!(
            not_before,
            crate::store::timestamp(now + Duration::minutes(10))
        );
        assert_eq!(error["code"], LIMIT_REACHED);
        assert_eq!(result.status, Status::Pending, "the answer says it waits");
    }

    #[test]
    fn a_final_outcome_names_its_position_and_releases_what_wrote_nothing() {
        let error = RecordError::input("invalid_picklist_value", "no".into(), None);
        let mut result = RecordResult::failed(0, Some("k".into()), None, error);
        let Settlement::Done {
            result: stored,
            status,
            released,
        } = settle(&mut result, &row(), Utc::now())
        else {
            panic!("deferred");
        };
        assert_eq!(stored["index"], 7);
        assert_eq!(status, "failed");
        assert!(released);
        assert_eq!(result.index, 0, "the answer keeps its own position");
    }
}
