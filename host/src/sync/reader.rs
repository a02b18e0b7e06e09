//! One object's read: pages from its cursor, each turned into changes
//! (echoes left out, records mapped to the agent's entity) and stored with
//! the advanced cursor in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::echo::{canonical, is_change};
use super::inbound::{self, Inbound};
use crate::config::{CustomerConfig, EntityMapping};
use crate::crm::{Changed, Keyset, parse_stamp};
use crate::pipeline::CustomerRuntime;
use crate::plugin::{Plugin, PluginContext};
use crate::record::{AgentRecord, CrmRecord, Fields, Operation};
use crate::schema::{ObjectSchema, OrgSchema, SchemaLookup};
use crate::store::{Advance, NewChange, ReadPage, Shadow, Store, timestamp};

/// Records asked for per page.
const PAGE_SIZE: usize = 200;
/// Pages one run reads per object, so one run ends in bounded time; a
/// backfill goes on at the next run.
const MAX_PAGES: usize = 50;

/// What a run did for one object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ObjectReport {
    /// The CRM object.
    pub object: String,
    /// The agent entity.
    pub entity: String,
    /// Records read.
    pub records_read: u64,
    /// Changes stored in the feed.
    pub changes: u64,
    /// Records read that were only what the agent knew (its own writes).
    pub suppressed: u64,
    /// Changes stored with a mapping error.
    pub failed: u64,
    /// Whether the read reached the newest record.
    pub caught_up: bool,
    /// Why the read stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything one object's read needs.
pub(super) struct Reader<'a> {
    pub config: &'a CustomerConfig,
    pub mapping: &'a EntityMapping,
    pub runtime: &'a CustomerRuntime,
    pub store: &'a Store,
    pub plugin: Option<Arc<Plugin>>,
}

/// A page's records, decided.
#[derive(Default)]
struct Decided {
    changes: Vec<NewChange>,
    shadows: Vec<(String, String, Option<String>)>,
    forgotten: Vec<String>,
    suppressed: u64,
    failed: u64,
}

impl Reader<'_> {
    /// Reads the object from its cursor; an error ends the run for this
    /// object and is kept on its cursor.
    pub async fn run(&self) -> ObjectReport {
        let mut report = ObjectReport {
            object: self.mapping.object.clone(),
            entity: self.mapping.entity.clone(),
            ..ObjectReport::default()
        };
        let outcome = self.read(&mut report).await;
        let error = outcome.err().map(|e| format!("{e:#}"));
        let now = timestamp(Utc::now());
        let finished = self
            .store
            .finish_read_run(
                &self.config.customer,
                &self.mapping.object,
                report.caught_up && error.is_none(),
                error.as_deref(),
                &now,
            )
            .await;
        if let Err(e) = finished {
            tracing::error!(error = %format!("{e:#}"), "could not record a read run");
        }
        report.error = error;
        report
    }

    async fn read(&self, report: &mut ObjectReport) -> anyhow::Result<()> {
        let object = self.mapping.object.as_str();
        let now = timestamp(Utc::now());
        let cursor = self
            .store
            .read_cursor(&self.config.customer, object, &self.mapping.entity, &now)
            .await?;
        let schema = self
            .runtime
            .schema(&[object])
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let object_schema = schema
            .objects
            .get(object)
            .with_context(|| format!("`{object}` was not discovered"))?;
        let fields = self.fields(object_schema);

        let mut after = keyset(cursor.modstamp.as_deref(), cursor.last_id.as_deref())?;
        for _ in 0..MAX_PAGES {
            let fetched_at = timestamp(Utc::now());
            let page = self
                .runtime
                .crm
                .changed(object, &fields, after.as_ref(), PAGE_SIZE)
                .await
                .with_context(|| format!("reading changes of `{object}`"))?;
            let Some(last) = page.records.last() else {
                report.caught_up = true;
                break;
            };
            let next = Keyset {
                modstamp: last.modstamp,
                id: last.id.clone(),
            };
            let advance = Advance::Modified {
                modstamp: stamp(&next),
                id: next.id.clone(),
            };
            self.store_page(&schema, &fields, page.records, fetched_at, advance, report)
                .await?;
            after = Some(next);
            if page.complete {
                report.caught_up = true;
                break;
            }
        }

        let deleted_after = keyset(cursor.deleted_at.as_deref(), cursor.deleted_id.as_deref())?;
        let fetched_at = timestamp(Utc::now());
        let deleted = self
            .runtime
            .crm
            .deleted(object, &fields, deleted_after.as_ref())
            .await
            .with_context(|| format!("reading deletions of `{object}`"))?;
        for chunk in deleted.chunks(PAGE_SIZE) {
            let Some(last) = chunk.last() else { continue };
            let last = Keyset {
                modstamp: last.modstamp,
                id: last.id.clone(),
            };
            let advance = Advance::Deleted {
                at: stamp(&last),
                id: last.id.clone(),
            };
            let records = chunk.to_vec();
            self.store_page(
                &schema,
                &fields,
                records,
                fetched_at.clone(),
                advance,
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// The mapped fields the object's schema has; a mapped field it lacks
    /// is left out of reads (the schema check reports it).
    fn fields(&self, schema: &ObjectSchema) -> Vec<String> {
        let mut fields = inbound::read_fields(self.mapping);
        fields.retain(|f| {
            let known = schema.field(f).is_some();
            if !known {
                tracing::debug!(object = %schema.name, field = %f, "mapped field not in schema");
            }
            known
        });
        fields
    }

    /// Decides one page and stores it with the advanced cursor.
    async fn store_page(
        &self,
        schema: &Arc<OrgSchema>,
        fields: &[String],
        records: Vec<Changed>,
        fetched_at: String,
        advance: Advance,
        report: &mut ObjectReport,
    ) -> anyhow::Result<()> {
        let customer = &self.config.customer;
        let object = &self.mapping.object;
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let shadows = self.store.shadows(customer, object, &ids).await?;
        let read = records.len() as u64;
        let decided = self
            .decide(schema, fields, records, &shadows, &fetched_at)
            .await?;

        let page = ReadPage {
            customer: customer.clone(),
            object: object.clone(),
            records_read: read as i64,
            changes: decided.changes,
            shadows: decided.shadows,
            forgotten: decided.forgotten,
            fetched_at,
            webhooks: self
                .config
                .webhooks
                .iter()
                .map(|w| (w.url.clone(), w.entities.clone()))
                .collect(),
            advance: Some(advance),
        };
        let ids = self
            .store
            .store_read_page(&page, &timestamp(Utc::now()))
            .await?;
        report.records_read += read;
        report.changes += ids.len() as u64;
        report.suppressed += decided.suppressed;
        report.failed += decided.failed;
        Ok(())
    }

    /// Turns a page's records into changes: deletions of records the agent
    /// knew, and records that differ from what it knew, mapped.
    async fn decide(
        &self,
        schema: &Arc<OrgSchema>,
        fields: &[String],
        records: Vec<Changed>,
        shadows: &std::collections::HashMap<String, Shadow>,
        fetched_at: &str,
    ) -> anyhow::Result<Decided> {
        let object = self.mapping.object.as_str();
        let object_schema = schema
            .objects
            .get(object)
            .with_context(|| format!("`{object}` was not discovered"))?;
        let mut decided = Decided::default();
        let mut to_map = Vec::new();
        for record in records {
            let values = inbound::crm_values(object_schema, fields, &record.fields);
            if record.deleted {
                // A deletion of a record the agent never knew tells it
                // nothing; once given out, the shadow goes, so it is given
                // once.
                if shadows.contains_key(&record.id) {
                    let key = inbound::reverse(self.mapping, &values).key;
                    decided.changes.push(self.change(&record, key, "delete"));
                    decided.forgotten.push(record.id.clone());
                }
                continue;
            }
            let canon: BTreeMap<String, Option<String>> = values
                .iter()
                .map(|(field, value)| (field.clone(), canonical(value)))
                .collect();
            if !is_change(&canon, shadows.get(&record.id), fetched_at) {
                decided.suppressed += 1;
                continue;
            }
            for (field, value) in canon {
                decided.shadows.push((record.id.clone(), field, value));
            }
            let inbound = inbound::reverse(self.mapping, &values);
            to_map.push((record, values, inbound));
        }

        for (record, mapped) in self.map_all(schema, to_map).await? {
            match mapped {
                Ok(Some((inbound, fields))) => {
                    let mut change = self.change(&record, inbound.key, "upsert");
                    change.fields = serde_json::to_value(&fields).unwrap_or_default();
                    change.notes = serde_json::to_value(&inbound.notes).unwrap_or_default();
                    decided.changes.push(change);
                }
                // The plugin says the agent should not see this record.
                Ok(None) => {}
                Err(error) => {
                    let mut change = self.change(&record, None, "upsert");
                    change.error = Some(error);
                    decided.failed += 1;
                    decided.changes.push(change);
                }
            }
        }
        Ok(decided)
    }

    fn change(&self, record: &Changed, key: Option<String>, kind: &'static str) -> NewChange {
        NewChange {
            entity: self.mapping.entity.clone(),
            crm_id: record.id.clone(),
            record_key: key,
            kind,
            fields: json!({}),
            notes: json!([]),
            error: None,
            modstamp: record.modstamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        }
    }

    /// Runs the plugin's `map-inbound` over the records, one instance for
    /// the page, off the async threads; without a plugin the declarative
    /// mapping stands. A record the plugin fails on fails alone.
    async fn map_all(
        &self,
        schema: &Arc<OrgSchema>,
        records: Vec<(Changed, Fields, Inbound)>,
    ) -> anyhow::Result<Vec<(Changed, MapOutcome)>> {
        let Some(plugin) = self.plugin.clone() else {
            return Ok(records
                .into_iter()
                .map(|(record, _, inbound)| {
                    let fields = inbound.fields.clone();
                    (record, Ok(Some((inbound, fields))))
                })
                .collect());
        };
        let context = PluginContext {
            customer: self.config.customer.clone(),
            settings: self
                .config
                .plugin
                .as_ref()
                .map(|p| p.settings.clone())
                .unwrap_or_default(),
            schema: schema.clone() as Arc<dyn SchemaLookup>,
        };
        let entity = self.mapping.entity.clone();
        let object = self.mapping.object.clone();
        tokio::task::spawn_blocking(move || {
            let mut instance = plugin.instance(context);
            records
                .into_iter()
                .map(|(record, values, inbound)| {
                    let crm = CrmRecord {
                        object: object.clone(),
                        id: record.id.clone(),
                        fields: values,
                    };
                    let draft = AgentRecord {
                        entity: entity.clone(),
                        operation: Operation::Upsert,
                        key: inbound.key.clone(),
                        acting_for: None,
                        fields: inbound.fields.clone(),
                    };
                    let outcome = match instance.map_inbound(&crm, &draft) {
                        Ok(Some(mapped)) => {
                            let inbound = Inbound {
                                key: mapped.key.or(inbound.key),
                                ..inbound
                            };
                            Ok(Some((inbound, mapped.fields)))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => Err(json!({ "code": "plugin_failed", "message": e.to_string() })),
                    };
                    (record, outcome)
                })
                .collect()
        })
        .await
        .context("mapping a page through the plugin")
    }
}

/// A record's mapping: its fields in the agent's words, none when the
/// plugin hides it, or the error it failed with.
type MapOutcome = Result<Option<(Inbound, Fields)>, serde_json::Value>;

/// A stored cursor as a keyset; none before the first record.
fn keyset(modstamp: Option<&str>, id: Option<&str>) -> anyhow::Result<Option<Keyset>> {
    let Some(modstamp) = modstamp else {
        return Ok(None);
    };
    let at = parse_stamp(&json!(modstamp))
        .with_context(|| format!("the stored read cursor `{modstamp}` is not a time"))?;
    Ok(Some(Keyset {
        modstamp: at,
        id: id.unwrap_or_default().to_owned(),
    }))
}

fn stamp(keyset: &Keyset) -> String {
    keyset.modstamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
