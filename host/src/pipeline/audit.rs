//! Auditing: every record's entry and every key's outcome, stored in one
//! transaction before the answer goes back to the agent.

use chrono::Utc;

use super::{Pipeline, RecordResult, Status};
use crate::config::CustomerConfig;
use crate::export::Decision;
use crate::store::{AuditEntry, HostWrite};
use crate::sync::echo::canonical;

/// Audits every record and stores the outcomes of their keys.
///
/// A key's outcome is kept only when something may have been written: a
/// failure that wrote nothing releases its key, so the agent can fix the
/// cause (add the rep, correct the value) and send the same key again.
pub(super) async fn finish(pipeline: &Pipeline, config: &CustomerConfig, results: &[RecordResult]) {
    let now = crate::store::timestamp(Utc::now());
    let plugin = config
        .plugin
        .as_ref()
        .map(|p| format!("{}@{}", p.name, p.version));
    let mut entries = Vec::with_capacity(results.len());
    let mut outcomes = Vec::new();
    let mut released = Vec::new();
    for r in results {
        entries.push(AuditEntry {
            id: 0,
            customer: config.customer.clone(),
            idempotency_key: r.idempotency_key.clone(),
            entity: r.entity.clone().unwrap_or_default(),
            record_key: r.key.clone(),
            object: r.object.clone(),
            crm_id: r.crm_id.clone(),
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error_code: r.error.as_ref().map(|e| e.code.clone()),
            config_version: config.version.clone(),
            plugin: plugin.clone(),
            decisions: serde_json::to_value(&r.fields).unwrap_or_default(),
            error: r.error.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            created_at: now.clone(),
        });
        let Some(key) = &r.idempotency_key else {
            continue;
        };
        let wrote_nothing = r.status == Status::Failed && r.crm_id.is_none();
        if wrote_nothing {
            released.push((config.customer.clone(), key.clone()));
        } else if let Ok(value) = serde_json::to_value(r) {
            outcomes.push((config.customer.clone(), key.clone(), value));
        }
    }
    // What the host wrote is recorded first, so that a read of these
    // records right after the answer already knows them for its own.
    let writes = host_writes(results);
    if let Err(e) = pipeline
        .store()
        .note_host_writes(&config.customer, &writes, &now)
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
        match pipeline
            .store()
            .record_batch(&entries, &outcomes, &released)
            .await
        {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
    }
    // Still failing: the batch's keys stay claimed without an outcome, so a
    // retry answers `in_flight` rather than writing the records a second
    // time. Resuming such records is the durable intake's work (#9).
    if let Some(e) = last {
        tracing::error!(error = %format!("{e:#}"), "could not store the audit of a batch");
    }
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
