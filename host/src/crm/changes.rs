//! Incremental reads: the records of an object changed after a keyset
//! cursor, oldest first, and the records deleted since.
//!
//! The cursor is the pair (modification time, id) of the last record
//! stored, so paging stays exact when many records share one time: a page
//! never ends in the middle of a time without the next one starting right
//! after the last id read.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use serde_json::json;

use super::hubspot::{HubspotClient, records};
use super::salesforce::{SalesforceClient, quote};
use super::{Crm, CrmError};

/// Where a read resumes: after this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    /// The last record's modification (or archive) time.
    pub modstamp: DateTime<Utc>,
    /// The last record's CRM id.
    pub id: String,
}

/// A record read as changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// Its CRM id.
    pub id: String,
    /// When the CRM last changed it (or archived it).
    pub modstamp: DateTime<Utc>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// The fields read, as the CRM returned them.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// One page of changed records.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedPage {
    /// The records, in cursor order.
    pub records: Vec<Changed>,
    /// Whether the read reached the newest record.
    pub complete: bool,
}

/// The field holding a record's modification time, per CRM.
const SALESFORCE_STAMP: &str = "SystemModstamp";
const HUBSPOT_STAMP: &str = "hs_lastmodifieddate";
/// HubSpot's id property, for filters and sorts.
const HUBSPOT_ID: &str = "hs_object_id";
/// Records per HubSpot archived-listing page, its maximum.
const ARCHIVED_PAGE: usize = 100;

impl Crm {
    /// Records of `object` changed after `after` (from the first when
    /// none), at most about `limit`, oldest first, reading `fields`.
    /// Salesforce's include deletions (`queryAll`); HubSpot lists those
    /// apart, see [`deleted`](Self::deleted).
    pub async fn changed(
        &self,
        object: &str,
        fields: &[String],
        after: Option<&Keyset>,
        limit: usize,
    ) -> Result<ChangedPage, CrmError> {
        match self {
            Crm::Salesforce(c) => salesforce_changed(c, object, fields, after, limit).await,
            Crm::Hubspot(c) => hubspot_changed(c, object, fields, after, limit).await,
        }
    }

    /// Records of `object` deleted after `after`, oldest first: HubSpot's
    /// archived records. Salesforce reports deletions within
    /// [`changed`](Self::changed), so this is empty there.
    pub async fn deleted(
        &self,
        object: &str,
        fields: &[String],
        after: Option<&Keyset>,
    ) -> Result<Vec<Changed>, CrmError> {
        match self {
            Crm::Salesforce(_) => Ok(Vec::new()),
            Crm::Hubspot(c) => hubspot_archived(c, object, fields, after).await,
        }
    }
}

/// The time in the form SOQL datetime literals and HubSpot filters take.
fn literal(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A CRM timestamp: RFC 3339 (`Z` or `+0000`) or epoch milliseconds.
pub fn parse_stamp(raw: &serde_json::Value) -> Option<DateTime<Utc>> {
    let text = match raw {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    DateTime::parse_from_rfc3339(&text)
        .or_else(|_| DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `queryAll` with the keyset condition, ordered by (SystemModstamp, Id).
async fn salesforce_changed(
    client: &SalesforceClient,
    object: &str,
    fields: &[String],
    after: Option<&Keyset>,
    limit: usize,
) -> Result<ChangedPage, CrmError> {
    let mut columns = vec!["Id", SALESFORCE_STAMP, "IsDeleted"];
    columns.extend(
        fields
            .iter()
            .map(String::as_str)
            .filter(|f| !["Id", SALESFORCE_STAMP, "IsDeleted"].contains(f)),
    );
    let filter = after.map(|k| {
        let at = literal(&k.modstamp);
        format!(
            " WHERE {SALESFORCE_STAMP} > {at} OR ({SALESFORCE_STAMP} = {at} AND Id > {})",
            quote(&k.id)
        )
    });
    let soql = format!(
        "SELECT {} FROM {object}{} ORDER BY {SALESFORCE_STAMP}, Id LIMIT {limit}",
        columns.join(", "),
        filter.unwrap_or_default()
    );
    let rows = client.query_all(&soql).await?;
    let complete = rows.len() < limit;
    let records = rows
        .into_iter()
        .map(|row| {
            let modstamp = stamp_of(&row.fields, SALESFORCE_STAMP)?;
            let deleted = row.fields.get("IsDeleted").and_then(|v| v.as_bool()) == Some(true);
            Ok(Changed {
                id: row.id,
                modstamp,
                deleted,
                fields: row.fields,
            })
        })
        .collect::<Result<Vec<_>, CrmError>>()?;
    Ok(ChangedPage { records, complete })
}

fn stamp_of(
    fields: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<DateTime<Utc>, CrmError> {
    fields
        .get(name)
        .and_then(parse_stamp)
        .ok_or_else(|| CrmError::protocol(format!("a record came back without a valid `{name}`")))
}

/// HubSpot's search sorts by one property only, so ties on the time are
/// read apart: first the rest of the cursor's own time by id, then later
/// times; a page that ends inside a time stops before it, and that time is
/// read by id to its end. No search pages with `after`, so the search's
/// cap of 10,000 results never applies.
async fn hubspot_changed(
    client: &HubspotClient,
    object: &str,
    fields: &[String],
    after: Option<&Keyset>,
    limit: usize,
) -> Result<ChangedPage, CrmError> {
    let limit = limit.clamp(1, 200);
    let mut properties: Vec<&str> = vec![HUBSPOT_STAMP, HUBSPOT_ID];
    properties.extend(
        fields
            .iter()
            .map(String::as_str)
            .filter(|f| *f != HUBSPOT_STAMP && *f != HUBSPOT_ID),
    );

    let mut records = Vec::new();
    if let Some(keyset) = after {
        let ties = hubspot_ties(client, object, &properties, keyset, limit).await?;
        if ties.len() == limit {
            return Ok(ChangedPage {
                records: ties,
                complete: false,
            });
        }
        records.extend(ties);
    }

    let later = match after {
        Some(k) => vec![filter(HUBSPOT_STAMP, "GT", &millis(&k.modstamp))],
        None => Vec::new(),
    };
    let mut page = hubspot_search(client, object, &properties, later, HUBSPOT_STAMP, limit).await?;
    if page.len() < limit {
        records.extend(page);
        return Ok(ChangedPage {
            records,
            complete: true,
        });
    }

    // The page may end inside its last time: read that time by id instead.
    let last = page.last().map(|r| r.modstamp);
    page.retain(|r| Some(r.modstamp) != last);
    records.extend(page);
    if let Some(last) = last {
        let start = Keyset {
            modstamp: last,
            id: "0".into(),
        };
        records.extend(hubspot_ties(client, object, &properties, &start, limit).await?);
    }
    Ok(ChangedPage {
        records,
        complete: false,
    })
}

/// Records modified exactly at the keyset's time with a greater id.
async fn hubspot_ties(
    client: &HubspotClient,
    object: &str,
    properties: &[&str],
    keyset: &Keyset,
    limit: usize,
) -> Result<Vec<Changed>, CrmError> {
    // A cursor reset to a time has no id yet: every id is after it.
    let id = if keyset.id.is_empty() {
        "0"
    } else {
        &keyset.id
    };
    let filters = vec![
        filter(HUBSPOT_STAMP, "EQ", &millis(&keyset.modstamp)),
        filter(HUBSPOT_ID, "GT", id),
    ];
    hubspot_search(client, object, properties, filters, HUBSPOT_ID, limit).await
}

fn filter(property: &str, operator: &str, value: &str) -> serde_json::Value {
    json!({ "propertyName": property, "operator": operator, "value": value })
}

/// Epoch milliseconds, as HubSpot's search compares datetime properties.
fn millis(at: &DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

async fn hubspot_search(
    client: &HubspotClient,
    object: &str,
    properties: &[&str],
    filters: Vec<serde_json::Value>,
    sort: &str,
    limit: usize,
) -> Result<Vec<Changed>, CrmError> {
    let mut body = json!({
        "properties": properties,
        "sorts": [{ "propertyName": sort, "direction": "ASCENDING" }],
        "limit": limit,
    });
    if !filters.is_empty() {
        body["filterGroups"] = json!([{ "filters": filters }]);
    }
    let path = format!("/crm/v3/objects/{object}/search");
    let answer = client.call(Method::POST, &path, &[], Some(&body)).await?;
    let mut found = records(&answer)
        .into_iter()
        .map(|r| {
            Ok(Changed {
                modstamp: stamp_of(&r.fields, HUBSPOT_STAMP)?,
                id: r.id,
                deleted: false,
                fields: r.fields,
            })
        })
        .collect::<Result<Vec<_>, CrmError>>()?;
    // The search's order within one time is not promised: keep the keyset's.
    found.sort_by(cursor_order);
    Ok(found)
}

/// Keyset order: time, then id (numeric for HubSpot's numeric ids).
fn cursor_order(a: &Changed, b: &Changed) -> std::cmp::Ordering {
    let id = |c: &Changed| (c.id.parse::<u64>().ok(), c.id.clone());
    (a.modstamp, id(a)).cmp(&(b.modstamp, id(b)))
}

/// Whether `record` comes after `keyset` in cursor order.
fn is_after(record: &Changed, keyset: &Keyset) -> bool {
    let probe = Changed {
        id: keyset.id.clone(),
        modstamp: keyset.modstamp,
        deleted: false,
        fields: serde_json::Map::new(),
    };
    cursor_order(record, &probe).is_gt()
}

/// HubSpot's archived records (`archived=true`), which no search can
/// filter by time: the whole listing is read and what comes after the
/// cursor kept, oldest first.
async fn hubspot_archived(
    client: &HubspotClient,
    object: &str,
    fields: &[String],
    after: Option<&Keyset>,
) -> Result<Vec<Changed>, CrmError> {
    let path = format!("/crm/v3/objects/{object}");
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = vec![
            ("archived", "true".to_owned()),
            ("limit", ARCHIVED_PAGE.to_string()),
        ];
        if !fields.is_empty() {
            query.push(("properties", fields.join(",")));
        }
        if let Some(next) = &next {
            query.push(("after", next.clone()));
        }
        let answer = client.call(Method::GET, &path, &query, None).await?;
        let results = answer.get("results").and_then(|r| r.as_array());
        for (record, raw) in records(&answer)
            .into_iter()
            .zip(results.into_iter().flatten())
        {
            let at = raw.get("archivedAt").and_then(parse_stamp).ok_or_else(|| {
                CrmError::protocol("an archived record came back without `archivedAt`".into())
            })?;
            let changed = Changed {
                id: record.id,
                modstamp: at,
                deleted: true,
                fields: record.fields,
            };
            if after.is_none_or(|k| is_after(&changed, k)) {
                found.push(changed);
            }
        }
        next = answer
            .pointer("/paging/next/after")
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned));
        if next.is_none() {
            break;
        }
    }
    found.sort_by(cursor_order);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(id: &str, ms: i64) -> Changed {
        Changed {
            id: id.into(),
            modstamp: Utc.timestamp_millis_opt(ms).single().expect("a time"),
            deleted: false,
            fields: serde_json::Map::new(),
        }
    }

    #[test]
    fn both_crms_timestamps_parse() {
        let sf = parse_stamp(&json!("2024-05-01T12:00:00.250+0000")).expect("Salesforce's form");
        let hs = parse_stamp(&json!("2024-05-01T12:00:00.250Z")).expect("HubSpot's form");
        let ms = parse_stamp(&json!("1714564800250")).expect("epoch milliseconds");
        assert_eq!(sf, hs);
        assert_eq!(hs, ms);
        assert!(parse_stamp(&json!("yesterday")).is_none());
    }

    #[test]
    fn keyset_order_is_time_then_numeric_id() {
        let mut records = [changed("10", 5), changed("9", 5), changed("1", 7)];
        records.sort_by(cursor_order);
        let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["9", "10", "1"]);

        let cursor = Keyset {
            modstamp: Utc.timestamp_millis_opt(5).single().expect("a time"),
            id: "9".into(),
        };
        assert!(is_after(&changed("10", 5), &cursor));
        assert!(!is_after(&changed("9", 5), &cursor));
        assert!(!is_after(&changed("100", 4), &cursor));
        assert!(is_after(&changed("1", 6), &cursor));
    }
}
