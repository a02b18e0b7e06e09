//! Which connection writes each record: the org-wide integration user or
//! the rep the agent acts for, by the kind of write and the customer's
//! `connections:` rules.

use std::collections::BTreeMap;

use super::execute::Work;
use super::{CustomerRuntime, RecordError};
use crate::config::{CustomerConfig, EntityMapping, RepMissing, Writer};
use crate::export::Plan;
use crate::record::ACTIVITY_PREFIX;

/// CRM objects that hold activities: written as `log_activity`, as is
/// everything of an activity entity (a custom activity object too).
const ACTIVITY_OBJECTS: [&str; 7] = [
    "Task", "Event", "calls", "emails", "meetings", "notes", "tasks",
];

/// The kinds of write the config chooses a connection for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteKind {
    /// A new record.
    CreateRecord,
    /// A change to a record, its status fields left alone.
    UpdateRecord,
    /// A change to a record's status field (one mapped with `values` or
    /// `plugin`), such as a deal's stage.
    UpdateStage,
    /// An activity: a call, email, meeting, task or note.
    LogActivity,
}

/// What kind of write `plan` is for a record of `entity` in `object`.
pub(super) fn kind(entity: &EntityMapping, object: &str, plan: &Plan) -> WriteKind {
    if entity.entity.starts_with(ACTIVITY_PREFIX) || ACTIVITY_OBJECTS.contains(&object) {
        return WriteKind::LogActivity;
    }
    if plan.creating {
        return WriteKind::CreateRecord;
    }
    let payload = plan.payload();
    let changes_status = entity
        .fields
        .values()
        .filter(|f| f.plugin || !f.values.is_empty())
        .filter_map(|f| f.crm_field.as_deref())
        .any(|field| payload.contains_key(field));
    if changes_status {
        WriteKind::UpdateStage
    } else {
        WriteKind::UpdateRecord
    }
}

/// The writer the config names for `kind`; the org-wide connection where
/// it names none.
fn writer(config: &CustomerConfig, kind: WriteKind) -> Writer {
    let rules = &config.connections;
    let chosen = match kind {
        WriteKind::CreateRecord => rules.create_record,
        WriteKind::UpdateRecord => rules.update_record,
        WriteKind::UpdateStage => rules.update_stage,
        WriteKind::LogActivity => rules.log_activity,
    };
    chosen.unwrap_or_default()
}

/// Sets each planned record's writer: the rep's email where the rep's
/// connection writes it, none for the org-wide connection. A record whose
/// rep cannot write fails alone, or falls back to the org-wide connection
/// where the config says so; nothing is written under an identity the
/// config did not choose.
pub(super) async fn assign(config: &CustomerConfig, runtime: &CustomerRuntime, work: &mut [Work]) {
    let mut reps: BTreeMap<String, Result<bool, RecordError>> = BTreeMap::new();
    for w in work.iter_mut().filter(|w| w.ok()) {
        let Some(plan) = &w.plan else { continue };
        let Some(entity) = config.entities.get(&w.prepared.intent.entity) else {
            continue;
        };
        if writer(config, kind(entity, &w.prepared.write.object, plan)) == Writer::Org {
            continue;
        }

        let email = w
            .prepared
            .intent
            .acting_for
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        let Some(email) = email else {
            if config.connections.rep_missing == RepMissing::Fail {
                w.fail(RecordError::input(
                    "acting_for_missing",
                    "the rep's connection writes this record: `acting_for` must name the rep"
                        .into(),
                    Some("acting_for".into()),
                ));
            }
            continue;
        };

        if !reps.contains_key(&email) {
            let connected = runtime.rep(config, &email).await.map(|crm| crm.is_some());
            reps.insert(email.clone(), connected);
        }
        match &reps[&email] {
            Ok(true) => w.writer = Some(email),
            Ok(false) if config.connections.rep_missing == RepMissing::OrgWithOwner => {}
            Ok(false) => w.fail(RecordError::input(
                "rep_not_connected",
                format!(
                    "rep `{email}` has not connected their {} account, and customer `{}` \
                     writes this record only with the rep's connection",
                    config.provider, config.customer
                ),
                Some("acting_for".into()),
            )),
            Err(error) => w.fail(error.clone()),
        }
    }
}
