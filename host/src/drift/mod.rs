//! Schema drift: the customer's CRM changed under its config. A mapped
//! field deleted or made read-only, a picklist value the mapping targets
//! removed, an object gone: each is found by describing the org again and
//! checking the config against what it says now, on a schedule and on
//! demand, so it is reported before a write fails on it.
//!
//! A check replaces the host's cached schema, so writes plan against the
//! new one; stores its findings, each with the time it was first seen, and
//! clears the ones fixed since; logs each new finding at WARN; and sets the
//! `conduit_schema_drift_findings` gauge.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use crate::config::{CustomerConfig, SchemaProblem, check_schema};
use crate::pipeline::{Pipeline, RecordError};
use crate::schedule::Scheduler;
use crate::schema::{FieldType, OrgSchema};
use crate::store::{DriftFinding, DriftReport};
use crate::telemetry::metrics;

/// The scheduled task's name, as configs' `schedule:` spell it.
pub const TASK: &str = "schema_check";

/// How often a customer's schema is checked when its config does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The customer cannot be described: not connected, or the CRM failed.
    #[error("{}", .0.message)]
    Crm(RecordError),
    /// The host's own store failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// What a check found and what it read.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The schema the CRM described, now the host's cached one.
    pub schema: Arc<OrgSchema>,
    /// When it was read.
    pub read_at: Option<chrono::DateTime<Utc>>,
    /// Every problem of the config against it.
    pub problems: Vec<SchemaProblem>,
    /// The stored report, with each finding's first sighting.
    pub report: DriftReport,
}

/// Describes `config`'s org again, checks the config against it and
/// records the findings.
pub async fn check(pipeline: &Pipeline, config: &CustomerConfig) -> Result<Checked, CheckError> {
    let customer = config.customer.as_str();
    let runtime = pipeline.customer(config).await.map_err(CheckError::Crm)?;
    let schema = runtime.rediscover(config).await.map_err(CheckError::Crm)?;

    let store = pipeline.store();
    for (name, object) in &schema.objects {
        let body = serde_json::to_value(object).unwrap_or_default();
        store.put_schema(customer, name, &body).await?;
    }

    let problems = check_schema(config, &schema);
    let found: Vec<DriftFinding> = problems
        .iter()
        .map(|problem| finding(config, &schema, problem))
        .collect();
    let (report, new) = store.record_drift(customer, &found, Utc::now()).await?;

    for finding in &new {
        warn!(
            customer,
            entity = finding.entity,
            object = finding.object,
            field = finding.field,
            kind = finding.kind,
            error.type = "schema_drift",
            "{}",
            finding.message
        );
    }
    if report.findings.is_empty() {
        info!(
            customer,
            objects = schema.objects.len(),
            "schema checked: the config fits"
        );
    } else {
        warn!(
            customer,
            findings = report.findings.len(),
            new = new.len(),
            "schema checked: the config maps what the CRM no longer allows"
        );
    }
    metrics::schema_drift(customer, report.findings.len());
    Ok(Checked {
        read_at: runtime.schema_read_at().await,
        schema,
        problems,
        report,
    })
}

/// Registers the scheduled check of every customer's schema, run `every`
/// (the host uses [`DEFAULT_INTERVAL`]) unless a config's
/// `schedule.schema_check` says otherwise.
pub fn register(scheduler: &mut Scheduler, pipeline: Arc<Pipeline>, every: Duration) {
    scheduler.register(TASK, Some(every), move |customer| {
        let pipeline = pipeline.clone();
        async move {
            // A customer removed from the configs since the tick is not
            // checked.
            let Some(config) = pipeline.config(&customer) else {
                return Ok(());
            };
            check(&pipeline, &config).await?;
            Ok(())
        }
    });
}

/// What changed, for one problem of the config against the schema: the
/// CRM object and field it is about, and which kind of change it is.
fn finding(config: &CustomerConfig, schema: &OrgSchema, problem: &SchemaProblem) -> DriftFinding {
    let entity = config.entities.get(&problem.entity);
    let object = entity.map(|e| e.object.clone()).unwrap_or_default();
    let mapping = entity
        .zip(problem.field.as_ref())
        .and_then(|(e, f)| e.fields.get(f));
    let option = problem.option.as_deref().unwrap_or_default();

    let field = match option {
        "match" => entity.and_then(|e| e.match_field.clone()),
        "owner" => entity.and_then(|e| e.owner.as_ref().map(|o| o.field.clone())),
        _ => mapping.and_then(|m| m.crm_field.clone()),
    };
    let described = schema.objects.get(&object);
    let in_schema = described
        .zip(field.as_deref())
        .and_then(|(o, f)| o.field(f));

    let kind = match option {
        "object" => "object_missing",
        "field" | "match" | "owner" => match in_schema {
            None => "field_missing",
            Some(f) if !f.createable && !f.updateable => "field_read_only",
            Some(_) => "mismatch",
        },
        values if values == "fallback" || values.starts_with("values.") => match in_schema {
            Some(f) if matches!(f.kind, FieldType::Picklist | FieldType::MultiPicklist) => {
                "picklist_value_missing"
            }
            _ => "mismatch",
        },
        _ => "mismatch",
    };
    DriftFinding {
        entity: problem.entity.clone(),
        object,
        field: field.filter(|_| option != "object"),
        agent_field: problem.field.clone(),
        option: problem.option.clone(),
        kind: kind.to_owned(),
        message: problem.message.clone(),
    }
}
