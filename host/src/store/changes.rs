//! The read side's state: per (customer, object) read cursors, the change
//! feed, and the shadow of each record's mapped fields that echo
//! suppression compares reads against.
//!
//! A page of reads is stored in one transaction: its changes, the shadow
//! rows they leave, the webhook deliveries they enqueue and the advanced
//! cursor. A crash mid-page leaves the cursor where it was, so the page is
//! read again rather than lost.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::Store;

/// Read progress of one object of one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadCursor {
    /// The CRM object read.
    pub object: String,
    /// The agent entity its changes are mapped to.
    pub entity: String,
    /// `backfill` until a run reaches the newest record, then `incremental`.
    pub mode: String,
    /// Modification time of the last record whose change is stored.
    pub modstamp: Option<String>,
    /// CRM id of that record: the tie-breaker among equal times.
    pub last_id: Option<String>,
    /// Archive time of the last deletion stored, where the CRM lists
    /// deletions apart (HubSpot).
    pub deleted_at: Option<String>,
    /// CRM id of that deletion.
    pub deleted_id: Option<String>,
    /// Records read since the cursor was created or reset.
    pub records_read: i64,
    /// Changes stored in the feed since then.
    pub changes: i64,
    /// When the cursor was created or last reset.
    pub started_at: Option<String>,
    /// When a run last finished for this object.
    pub last_run_at: Option<String>,
    /// The last run's error; none when it succeeded.
    pub last_error: Option<String>,
}

/// A change about to enter the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChange {
    /// The agent entity.
    pub entity: String,
    /// The CRM id.
    pub crm_id: String,
    /// The agent's key of the record (the value of its match field).
    pub record_key: Option<String>,
    /// `upsert` or `delete`.
    pub kind: &'static str,
    /// The agent's fields.
    pub fields: serde_json::Value,
    /// Values the reverse mapping could not translate.
    pub notes: serde_json::Value,
    /// Why the record could not be mapped; none when it was.
    pub error: Option<serde_json::Value>,
    /// The CRM's modification (or archive) time, RFC 3339.
    pub modstamp: String,
}

/// A change in the feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Position in the feed; pass it as `after` to read what follows.
    pub cursor: String,
    /// The agent entity.
    pub entity: String,
    /// The CRM object.
    pub object: String,
    /// The CRM id.
    pub crm_id: String,
    /// The agent's key of the record.
    pub record_key: Option<String>,
    /// `upsert` or `delete`.
    pub kind: String,
    /// The record in the agent's fields; `{}` for a deletion.
    pub fields: serde_json::Value,
    /// CRM values the reverse mapping could not translate, each with why.
    pub notes: serde_json::Value,
    /// Why the record could not be mapped; absent when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// When the CRM last changed the record (RFC 3339).
    pub modstamp: String,
    /// When the host read it (RFC 3339).
    pub read_at: String,
}

/// One mapped CRM field's value as the agent last knew it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowValue {
    /// The value in its canonical text form; none when empty.
    pub value: Option<String>,
    /// When it was recorded.
    pub updated_at: String,
}

/// The shadow of one record: mapped CRM field to its last known value.
pub type Shadow = HashMap<String, ShadowValue>;

/// Where a page's cursor moves once its changes are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Advance {
    /// The live records' keyset cursor.
    Modified {
        /// The last record's modification time.
        modstamp: String,
        /// The last record's id.
        id: String,
    },
    /// The deletions' cursor.
    Deleted {
        /// The last deletion's archive time.
        at: String,
        /// The last deletion's id.
        id: String,
    },
}

/// A page of reads for one object, stored at once.
#[derive(Debug, Clone)]
pub struct ReadPage {
    /// The customer.
    pub customer: String,
    /// The CRM object.
    pub object: String,
    /// Records read, whether or not they made a change.
    pub records_read: i64,
    /// The changes that enter the feed.
    pub changes: Vec<NewChange>,
    /// Shadow rows to record: crm id, field, canonical value.
    pub shadows: Vec<(String, String, Option<String>)>,
    /// Records whose shadow goes: deleted in the CRM.
    pub forgotten: Vec<String>,
    /// When the page was fetched from the CRM: a shadow row recorded later
    /// (the host wrote after the fetch) is newer than the page and stays.
    pub fetched_at: String,
    /// Webhook URLs to deliver each change to, by the entities they take
    /// (none: every entity).
    pub webhooks: Vec<(String, Option<Vec<String>>)>,
    /// The cursor after this page.
    pub advance: Option<Advance>,
}

/// A field the host wrote to a record.
#[derive(Debug, Clone, PartialEq)]
pub struct HostWrite {
    /// The CRM object.
    pub object: String,
    /// The record's CRM id.
    pub crm_id: String,
    /// CRM field and the canonical value written.
    pub fields: Vec<(String, Option<String>)>,
}

/// The feed position of a change id: opaque to the agent, ordered like the
/// ids.
pub fn encode_cursor(id: i64) -> String {
    format!("{id:016x}")
}

/// The change id of a feed position; none for text no feed gave out.
pub fn decode_cursor(cursor: &str) -> Option<i64> {
    if cursor.len() != 16 {
        return None;
    }
    i64::from_str_radix(cursor, 16).ok().filter(|id| *id >= 0)
}

impl Store {
    /// Every object's read progress for `customer`, by object.
    pub async fn read_cursors(&self, customer: &str) -> anyhow::Result<Vec<ReadCursor>> {
        let rows = sqlx::query(
            "SELECT object, entity, mode, modstamp, last_id, deleted_at, deleted_id, \
             records_read, changes, started_at, last_run_at, last_error \
             FROM read_cursors WHERE customer = $1 ORDER BY object",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .context("reading the read cursors")?;
        Ok(rows
            .iter()
            .map(|row| ReadCursor {
                object: row.get("object"),
                entity: row.get("entity"),
                mode: row.get("mode"),
                modstamp: row.get("modstamp"),
                last_id: row.get("last_id"),
                deleted_at: row.get("deleted_at"),
                deleted_id: row.get("deleted_id"),
                records_read: row.get("records_read"),
                changes: row.get("changes"),
                started_at: row.get("started_at"),
                last_run_at: row.get("last_run_at"),
                last_error: row.get("last_error"),
            })
            .collect())
    }

    /// The read progress of one object, created in backfill mode from the
    /// beginning when there is none yet.
    pub async fn read_cursor(
        &self,
        customer: &str,
        object: &str,
        entity: &str,
        now: &str,
    ) -> anyhow::Result<ReadCursor> {
        sqlx::query(
            "INSERT INTO read_cursors (customer, object, entity, mode, started_at) \
             VALUES ($1, $2, $3, 'backfill', $4) ON CONFLICT (customer, object) DO NOTHING",
        )
        .bind(customer)
        .bind(object)
        .bind(entity)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("creating a read cursor")?;
        let cursors = self.read_cursors(customer).await?;
        cursors
            .into_iter()
            .find(|c| c.object == object)
            .with_context(|| format!("the read cursor of `{object}` vanished"))
    }

    /// Starts a backfill of `object` again: from `since` (RFC 3339), or
    /// from the beginning. Deletions are read from the same point.
    pub async fn reset_read_cursor(
        &self,
        customer: &str,
        object: &str,
        entity: &str,
        since: Option<&str>,
        now: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO read_cursors (customer, object, entity, mode, modstamp, last_id, \
             deleted_at, deleted_id, records_read, changes, started_at) \
             VALUES ($1, $2, $3, 'backfill', $4, NULL, $4, NULL, 0, 0, $5) \
             ON CONFLICT (customer, object) DO UPDATE SET entity = excluded.entity, \
             mode = 'backfill', modstamp = excluded.modstamp, last_id = NULL, \
             deleted_at = excluded.deleted_at, deleted_id = NULL, records_read = 0, \
             changes = 0, started_at = excluded.started_at, last_error = NULL",
        )
        .bind(customer)
        .bind(object)
        .bind(entity)
        .bind(since)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("resetting a read cursor")?;
        Ok(())
    }

    /// Records how a run of `object` ended: caught up (the cursor turns
    /// incremental) or not, and its error.
    pub async fn finish_read_run(
        &self,
        customer: &str,
        object: &str,
        caught_up: bool,
        error: Option<&str>,
        now: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE read_cursors SET last_run_at = $3, last_error = $4, \
             mode = CASE WHEN $5 = 1 THEN 'incremental' ELSE mode END \
             WHERE customer = $1 AND object = $2",
        )
        .bind(customer)
        .bind(object)
        .bind(now)
        .bind(error)
        .bind(i64::from(caught_up))
        .execute(&self.pool)
        .await
        .context("recording a read run")?;
        Ok(())
    }

    /// The shadows of `ids`, records of `object`: what the agent last knew
    /// each mapped field to hold. A record with no row is absent.
    pub async fn shadows(
        &self,
        customer: &str,
        object: &str,
        ids: &[String],
    ) -> anyhow::Result<HashMap<String, Shadow>> {
        let mut shadows: HashMap<String, Shadow> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT crm_id, field, value, updated_at FROM record_shadow \
                 WHERE customer = $1 AND object = $2 AND crm_id IN ({list})"
            );
            // Only numbered placeholders are spliced in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(customer)
                .bind(object);
            for id in chunk {
                query = query.bind(id);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .context("reading record shadows")?;
            for row in rows {
                let value = ShadowValue {
                    value: row.get("value"),
                    updated_at: row.get("updated_at"),
                };
                shadows
                    .entry(row.get("crm_id"))
                    .or_default()
                    .insert(row.get("field"), value);
            }
        }
        Ok(shadows)
    }

    /// Records what the host wrote, so that reading it back is no change.
    pub async fn note_host_writes(
        &self,
        customer: &str,
        writes: &[HostWrite],
        now: &str,
    ) -> anyhow::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        // A record written twice in one batch keeps its last value: one
        // statement may not set a row twice.
        let mut rows: BTreeMap<(&str, &str, &str), Option<&str>> = BTreeMap::new();
        for write in writes {
            for (field, value) in &write.fields {
                let key = (write.object.as_str(), write.crm_id.as_str(), field.as_str());
                rows.insert(key, value.as_deref());
            }
        }
        let rows: Vec<ShadowRow> = rows
            .into_iter()
            .map(|((object, crm_id, field), value)| (object, crm_id, field, value))
            .collect();
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the shadow write")?;
        for chunk in rows.chunks(SHADOWS_PER_STATEMENT) {
            let sql = shadow_upsert(chunk.len());
            // Only numbered placeholders are spliced in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (object, crm_id, field, value) in chunk {
                query = query
                    .bind(customer)
                    .bind(*object)
                    .bind(*crm_id)
                    .bind(*field)
                    .bind(*value)
                    .bind("host")
                    .bind(now);
            }
            query
                .execute(&mut *tx)
                .await
                .context("recording host writes")?;
        }
        tx.commit().await.context("committing the host writes")?;
        Ok(())
    }

    /// Stores a page of reads in one transaction: its changes, their
    /// webhook deliveries, the shadow rows and the advanced cursor. Returns
    /// the new changes' ids.
    pub async fn store_read_page(&self, page: &ReadPage, now: &str) -> anyhow::Result<Vec<i64>> {
        let mut tx = self.pool.begin().await.context("starting a read page")?;
        let mut ids = Vec::with_capacity(page.changes.len());
        for change in &page.changes {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO changes (customer, entity, object, crm_id, record_key, kind, \
                 fields, notes, error, modstamp, read_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(&page.customer)
            .bind(&change.entity)
            .bind(&page.object)
            .bind(&change.crm_id)
            .bind(&change.record_key)
            .bind(change.kind)
            .bind(change.fields.to_string())
            .bind(change.notes.to_string())
            .bind(change.error.as_ref().map(|e| e.to_string()))
            .bind(&change.modstamp)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .context("storing a change")?;
            ids.push(id);

            let takes = |entities: &Option<Vec<String>>| {
                entities
                    .as_ref()
                    .is_none_or(|list| list.contains(&change.entity))
            };
            for (url, _) in page.webhooks.iter().filter(|(_, e)| takes(e)) {
                sqlx::query(super::webhooks::ENQUEUE)
                    .bind(&page.customer)
                    .bind(url)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .context("enqueueing a webhook delivery")?;
            }
        }

        // A row the host wrote after the page was fetched is newer than what
        // the page holds, and stays: the upsert keeps the newer row.
        let rows: Vec<ShadowRow> = page
            .shadows
            .iter()
            .map(|(id, field, value)| {
                (
                    page.object.as_str(),
                    id.as_str(),
                    field.as_str(),
                    value.as_deref(),
                )
            })
            .collect();
        for chunk in rows.chunks(SHADOWS_PER_STATEMENT) {
            let sql = shadow_upsert(chunk.len());
            // Only numbered placeholders are spliced in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (object, crm_id, field, value) in chunk {
                query = query
                    .bind(&page.customer)
                    .bind(*object)
                    .bind(*crm_id)
                    .bind(*field)
                    .bind(*value)
                    .bind("read")
                    .bind(&page.fetched_at);
            }
            query
                .execute(&mut *tx)
                .await
                .context("recording a read's shadows")?;
        }
        for crm_id in &page.forgotten {
            sqlx::query(
                "DELETE FROM record_shadow WHERE customer = $1 AND object = $2 AND crm_id = $3",
            )
            .bind(&page.customer)
            .bind(&page.object)
            .bind(crm_id)
            .execute(&mut *tx)
            .await
            .context("forgetting a deleted record's shadow")?;
        }

        let (moved, stamp) = match &page.advance {
            Some(Advance::Modified { modstamp, id }) => {
                (", modstamp = $5, last_id = $6", Some((modstamp, id)))
            }
            Some(Advance::Deleted { at, id }) => {
                (", deleted_at = $5, deleted_id = $6", Some((at, id)))
            }
            None => ("", None),
        };
        let sql = format!(
            "UPDATE read_cursors SET records_read = records_read + $3, \
             changes = changes + $4{moved} WHERE customer = $1 AND object = $2"
        );
        // The text is one of two fixed column lists; every value is bound.
        let mut advance = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&page.customer)
            .bind(&page.object)
            .bind(page.records_read)
            .bind(ids.len() as i64);
        if let Some((stamp, id)) = stamp {
            advance = advance.bind(stamp).bind(id);
        }
        advance
            .execute(&mut *tx)
            .await
            .context("advancing a read cursor")?;
        tx.commit().await.context("committing a read page")?;
        Ok(ids)
    }

    /// The customer's changes after change id `after`, oldest first.
    pub async fn changes(
        &self,
        customer: &str,
        after: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT id, entity, object, crm_id, record_key, kind, fields, notes, error, \
             modstamp, read_at FROM changes WHERE customer = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(customer)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading the change feed")?;
        Ok(rows
            .iter()
            .map(|row| Change {
                cursor: encode_cursor(row.get("id")),
                entity: row.get("entity"),
                object: row.get("object"),
                crm_id: row.get("crm_id"),
                record_key: row.get("record_key"),
                kind: row.get("kind"),
                fields: super::json_column(row.get("fields")),
                notes: super::json_column(row.get("notes")),
                error: row
                    .get::<Option<String>, _>("error")
                    .map(super::json_column),
                modstamp: row.get("modstamp"),
                read_at: row.get("read_at"),
            })
            .collect())
    }

    /// One change of the customer's, by id.
    pub async fn change(&self, customer: &str, id: i64) -> anyhow::Result<Option<Change>> {
        let found = self.changes(customer, id - 1, 1).await?;
        Ok(found
            .into_iter()
            .find(|c| decode_cursor(&c.cursor) == Some(id)))
    }
}

/// Ids per `IN (...)` list: far below either database's parameter limit.
const IDS_PER_STATEMENT: usize = 200;

/// Shadow rows per statement: 7 parameters each, 700 in all.
const SHADOWS_PER_STATEMENT: usize = 100;

/// A shadow row to record: object, crm id, field, canonical value.
type ShadowRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

/// An upsert of `rows` shadow rows (customer, object, crm id, field,
/// value, origin, time each) that keeps a stored row newer than the new
/// one.
fn shadow_upsert(rows: usize) -> String {
    let values = (0..rows)
        .map(|row| {
            let first = row * 7 + 1;
            let list = (first..first + 7)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({list})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO record_shadow (customer, object, crm_id, field, value, origin, updated_at) \
         VALUES {values} ON CONFLICT (customer, object, crm_id, field) DO UPDATE SET \
         value = excluded.value, origin = excluded.origin, updated_at = excluded.updated_at \
         WHERE record_shadow.updated_at <= excluded.updated_at"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretKey;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("conduit.db");
        let store = Store::open_sqlite(&path, SecretKey::ephemeral())
            .await
            .expect("opens");
        (store, dir)
    }

    const T1: &str = "2026-01-01T00:00:01.000000Z";
    const T2: &str = "2026-01-01T00:00:02.000000Z";
    const T3: &str = "2026-01-01T00:00:03.000000Z";

    fn page(fetched_at: &str, value: &str) -> ReadPage {
        ReadPage {
            customer: "acme".into(),
            object: "Account".into(),
            records_read: 1,
            changes: vec![NewChange {
                entity: "company".into(),
                crm_id: "001A".into(),
                record_key: Some("Acme".into()),
                kind: "upsert",
                fields: serde_json::json!({ "name": value }),
                notes: serde_json::json!([]),
                error: None,
                modstamp: "2026-01-01T00:00:00.000Z".into(),
            }],
            shadows: vec![("001A".into(), "Name".into(), Some(value.into()))],
            forgotten: Vec::new(),
            fetched_at: fetched_at.into(),
            webhooks: vec![("https://hooks.example/a".into(), Some(vec!["deal".into()]))],
            advance: Some(Advance::Modified {
                modstamp: "2026-01-01T00:00:00.000Z".into(),
                id: "001A".into(),
            }),
        }
    }

    #[tokio::test]
    async fn a_page_stores_its_changes_and_moves_its_cursor() {
        let (store, _dir) = store().await;
        store
            .read_cursor("acme", "Account", "company", T1)
            .await
            .expect("cursor");
        let ids = store
            .store_read_page(&page(T1, "Acme"), T1)
            .await
            .expect("stored");
        assert_eq!(ids.len(), 1);

        let cursor = &store.read_cursors("acme").await.expect("cursors")[0];
        assert_eq!(cursor.last_id.as_deref(), Some("001A"));
        assert_eq!((cursor.records_read, cursor.changes), (1, 1));
        let feed = store.changes("acme", 0, 10).await.expect("feed");
        assert_eq!(feed.len(), 1);
        assert_eq!(decode_cursor(&feed[0].cursor), Some(ids[0]));
        assert!(
            store
                .changes("acme", ids[0], 10)
                .await
                .expect("feed")
                .is_empty()
        );
        // The webhook takes deals only: nothing was enqueued for a company.
        let queued = store
            .deliveries("acme", None, 10)
            .await
            .expect("deliveries");
        assert!(queued.is_empty());
    }

    #[tokio::test]
    async fn a_host_write_newer_than_the_page_keeps_its_shadow() {
        let (store, _dir) = store().await;
        store
            .read_cursor("acme", "Account", "company", T1)
            .await
            .expect("cursor");
        let write = HostWrite {
            object: "Account".into(),
            crm_id: "001A".into(),
            fields: vec![("Name".into(), Some("Host".into()))],
        };
        store
            .note_host_writes("acme", &[write], T3)
            .await
            .expect("noted");
        // A page fetched at T2, before the write was recorded.
        store
            .store_read_page(&page(T2, "Stale"), T3)
            .await
            .expect("stored");

        let ids = ["001A".to_owned()];
        let shadows = store
            .shadows("acme", "Account", &ids)
            .await
            .expect("shadows");
        let name = &shadows["001A"]["Name"];
        assert_eq!(name.value.as_deref(), Some("Host"));
        assert_eq!(name.updated_at, T3);
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_text() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert!(encode_cursor(9) < encode_cursor(10));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor("zzzzzzzzzzzzzzzz"), None);
    }
}
