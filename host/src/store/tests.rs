//! The store on the backend the run is for: SQLite in a temporary file, or,
//! with `CONDUIT_TEST_DATABASE_URL` naming a PostgreSQL server, a database
//! of its own there.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use sqlx::Row;

use super::scratch::ScratchDatabase;
use super::{
    AuditEntry, Backend, Intake, KeyClaim, Location, NewIntent, Settled, Settlement, Store,
};
use crate::secrets::SecretKey;

/// What keeps a test's database alive.
struct Keep {
    _dir: Option<tempfile::TempDir>,
    _database: Option<ScratchDatabase>,
}

/// An empty database on the run's backend.
async fn location() -> anyhow::Result<(Location, Keep)> {
    let server = std::env::var("CONDUIT_TEST_DATABASE_URL")
        .ok()
        .and_then(|url| match Location::parse(&url) {
            Ok(Location::Postgres(url)) => Some(url),
            _ => None,
        });
    match server {
        Some(server) => {
            let database = ScratchDatabase::create(&server).await?;
            let location = Location::Postgres(database.url().to_owned());
            let keep = Keep {
                _dir: None,
                _database: Some(database),
            };
            Ok((location, keep))
        }
        None => {
            let dir = tempfile::tempdir()?;
            let location = Location::Sqlite(dir.path().join("conduit.db"));
            let keep = Keep {
                _dir: Some(dir),
                _database: None,
            };
            Ok((location, keep))
        }
    }
}

async fn store() -> anyhow::Result<(Store, Keep)> {
    let (location, keep) = location().await?;
    let store = Store::open(&location, SecretKey::ephemeral()).await?;
    Ok((store, keep))
}

fn intents(names: &[&str]) -> Vec<NewIntent> {
    names
        .iter()
        .enumerate()
        .map(|(i, k)| NewIntent {
            key: k.to_string(),
            fingerprint: format!("fingerprint of {k}"),
            intent: "{}".into(),
            ordinal: i as i64,
            run_order: i as i64,
        })
        .collect()
}

/// Intents this replica runs at once, as a synchronous write stores them.
fn running() -> Intake {
    Intake {
        job_id: None,
        claimed_by: Some("replica-1".into()),
        lease_until: Some(super::timestamp(
            chrono::Utc::now() + chrono::Duration::minutes(5),
        )),
    }
}

fn done(key: &str, n: i64, released: bool) -> Settled {
    Settled {
        customer: "acme".into(),
        key: key.into(),
        outcome: Settlement::Done {
            result: json!({ "status": "created", "n": n }),
            status: "created".into(),
            released,
        },
    }
}

#[tokio::test]
async fn a_key_is_claimed_once_and_then_answers_with_its_last_outcome() -> anyhow::Result<()> {
    let (store, _keep) = store().await?;
    let claims = store
        .claim_keys("acme", &running(), &intents(&["a", "b"]))
        .await?;
    assert_eq!(claims, vec![KeyClaim::Claimed, KeyClaim::Claimed]);
    let held = store
        .claim_keys("acme", &running(), &intents(&["a"]))
        .await?;
    assert!(matches!(held[0], KeyClaim::InFlight { .. }), "{held:?}");

    // `a` is given two outcomes in one batch: the last one is kept.
    let settled = vec![done("a", 1, false), done("a", 2, false), done("b", 3, true)];
    store.record_batch(&[], &settled).await?;

    let again = store
        .claim_keys("acme", &running(), &intents(&["a", "b"]))
        .await?;
    let KeyClaim::Done {
        result,
        fingerprint,
    } = &again[0]
    else {
        anyhow::bail!("`a` is done: {again:?}");
    };
    assert_eq!(result["n"], 2);
    assert_eq!(fingerprint.as_deref(), Some("fingerprint of a"));
    assert_eq!(again[1], KeyClaim::Claimed, "a released key is free again");

    let other = store
        .claim_keys("globex", &running(), &intents(&["a"]))
        .await?;
    assert_eq!(other, vec![KeyClaim::Claimed], "keys are per customer");
    Ok(())
}

fn entry(
    status: &str,
    decisions: serde_json::Value,
    error: Option<serde_json::Value>,
) -> AuditEntry {
    AuditEntry {
        id: 0,
        customer: "acme".into(),
        idempotency_key: None,
        entity: "deal".into(),
        record_key: Some("d-1".into()),
        object: Some("Opportunity".into()),
        crm_id: None,
        status: status.into(),
        error_code: error.as_ref().map(|_| "crm_rejected".to_owned()),
        config_version: "v1".into(),
        plugin: None,
        decisions,
        error,
        created_at: super::now(),
    }
}

#[tokio::test]
async fn the_dashboard_reads_failures_and_skips_from_the_stored_json() -> anyhow::Result<()> {
    let (store, _keep) = store().await?;
    let skip = |reason: &str| json!({ "field": "x", "decision": "skip", "reason": reason });
    let refused = |code: &str, message: &str| json!({ "code": "crm_rejected", "message": "refused", "crm": { "code": code, "message": message } });
    let entries = vec![
        entry(
            "created",
            json!([skip("has_value"), skip("read_only")]),
            None,
        ),
        entry(
            "updated",
            json!([skip("has_value"), { "decision": "write" }]),
            None,
        ),
        // Decisions that are not a list hold no field.
        entry("unchanged", json!(null), None),
        entry(
            "failed",
            json!([]),
            Some(refused("FIELD_CUSTOM_VALIDATION", "too big")),
        ),
        entry(
            "failed",
            json!([]),
            Some(refused("FIELD_CUSTOM_VALIDATION", "too small")),
        ),
        entry("failed", json!([]), Some(json!({ "message": "no rep" }))),
    ];
    store.record_batch(&entries, &[]).await?;

    let stats = store.write_stats("acme").await?;
    assert_eq!(stats.totals.records, 6);
    assert_eq!(stats.totals.failed, 3);
    let skipped: Vec<_> = stats
        .skipped
        .iter()
        .map(|s| (s.reason.as_str(), s.count))
        .collect();
    assert_eq!(skipped, vec![("has_value", 2), ("read_only", 1)]);

    let groups: Vec<_> = stats
        .errors
        .iter()
        .map(|g| (g.crm_code.as_deref(), g.count, g.messages.clone()))
        .collect();
    assert_eq!(
        groups,
        vec![
            (
                Some("FIELD_CUSTOM_VALIDATION"),
                2,
                vec!["too small".into(), "too big".into()]
            ),
            (None, 1, vec!["no rep".into()]),
        ]
    );
    let series = &stats.series;
    assert_eq!(
        series.iter().map(|p| p.succeeded).sum::<i64>(),
        3,
        "{series:?}"
    );
    assert_eq!(
        series.iter().map(|p| p.failed).sum::<i64>(),
        3,
        "{series:?}"
    );
    Ok(())
}

#[tokio::test]
async fn hosts_starting_together_on_one_database_both_open_it() -> anyhow::Result<()> {
    let (location, _keep) = location().await?;
    if location.backend() != Backend::Postgres {
        eprintln!("skipped: one SQLite file serves one host");
        return Ok(());
    }
    let key = SecretKey::ephemeral();
    let (one, two) = tokio::join!(
        Store::open(&location, key.clone()),
        Store::open(&location, key.clone())
    );
    let (one, two) = (one?, two?);

    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&one.pool)
        .await?;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))?.count();
    assert_eq!(applied as usize, files, "each migration applied once");
    two.ping().await?;
    Ok(())
}

/// The claim other work uses: rows picked under [`Backend::skip_locked`].
async fn claim(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    owner: &str,
) -> anyhow::Result<Vec<i64>> {
    let sql = format!(
        "UPDATE claim_probe SET owner = $1 WHERE id IN (SELECT id FROM claim_probe \
         WHERE owner IS NULL ORDER BY id LIMIT 2{}) RETURNING id",
        backend.skip_locked()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(&mut **tx)
        .await?;
    let mut ids: Vec<i64> = rows.iter().map(|r| r.get("id")).collect();
    ids.sort();
    Ok(ids)
}

#[tokio::test]
async fn replicas_claiming_at_once_take_different_rows_without_waiting() -> anyhow::Result<()> {
    let (store, _keep) = store().await?;
    if store.backend() != Backend::Postgres {
        // One SQLite connection: a second claim cannot even begin while the
        // first is open, so there is nothing to skip.
        eprintln!("skipped: claims only run side by side on PostgreSQL");
        return Ok(());
    }
    for statement in [
        "CREATE TABLE claim_probe (id BIGINT PRIMARY KEY, owner TEXT)",
        "INSERT INTO claim_probe (id) VALUES (1), (2), (3), (4), (5)",
    ] {
        sqlx::query(statement).execute(&store.pool).await?;
    }

    let mut first = store.pool.begin().await?;
    let taken = claim(&mut first, store.backend(), "one").await?;
    assert_eq!(taken, vec![1, 2]);

    // The first claim is not committed: its rows are locked. Without
    // SKIP LOCKED the second would wait for it, for ever here.
    let mut second = store.pool.begin().await?;
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        claim(&mut second, store.backend(), "two"),
    )
    .await;
    let taken_too = waited.context("the second claim waited for the first")??;
    assert_eq!(taken_too, vec![3, 4]);
    second.commit().await?;
    first.commit().await?;

    let owners: Vec<(i64, Option<String>)> =
        sqlx::query("SELECT id, owner FROM claim_probe ORDER BY id")
            .fetch_all(&store.pool)
            .await?
            .iter()
            .map(|r| (r.get("id"), r.get("owner")))
            .collect();
    let owner = |o: &str| Some(o.to_owned());
    assert_eq!(
        owners,
        vec![
            (1, owner("one")),
            (2, owner("one")),
            (3, owner("two")),
            (4, owner("two")),
            (5, None)
        ]
    );
    Ok(())
}
