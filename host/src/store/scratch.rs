//! Throwaway PostgreSQL databases, one per test or benchmark run, so that
//! runs side by side on one server never see each other's rows.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use sqlx::AnyConnection;
use sqlx::{AssertSqlSafe, Connection, Executor};

/// The prefix of every scratch database's name, followed by the creating
/// process's id: what [`ScratchDatabase::sweep`] recognises.
const PREFIX: &str = "conduit_scratch_";

/// A database created on a PostgreSQL server and dropped with this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the server `server_url` points at (any
    /// database there the user may connect to, e.g. `.../postgres`).
    pub async fn create(server_url: &str) -> anyhow::Result<Self> {
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{PREFIX}{}_{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8],
        );
        let mut url = url::Url::parse(server_url)
            .with_context(|| format!("bad PostgreSQL URL `{server_url}`"))?;
        url.set_path(&name);

        let mut admin = connect(server_url).await?;
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = admin.close().await;
        Ok(Self {
            server: server_url.to_owned(),
            name,
            url: url.into(),
        })
    }

    /// The URL that opens this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the scratch databases of processes that are no longer
    /// running: what a run killed before its cleanup left behind.
    pub async fn sweep(server_url: &str) -> anyhow::Result<()> {
        let mut admin = connect(server_url).await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
        )
        .bind(PREFIX)
        .fetch_all(&mut admin)
        .await
        .context("listing scratch databases")?;
        for name in names {
            let Some(pid) = name[PREFIX.len()..].split('_').next() else {
                continue;
            };
            if std::path::Path::new("/proc").join(pid).exists() {
                continue;
            }
            tracing::debug!(database = name, "dropping a leftover scratch database");
            drop_database(&mut admin, &name).await?;
        }
        let _ = admin.close().await;
        Ok(())
    }
}

impl Drop for ScratchDatabase {
    /// Drops the database, closing whatever connections still use it.
    /// Drop cannot wait on the caller's runtime, which may be the one
    /// thread it has, so the statement runs on a thread of its own.
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = connect(&server).await?;
                drop_database(&mut admin, &name).await?;
                let _ = admin.close().await;
                anyhow::Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "a scratch database stays"),
            Err(_) => tracing::warn!("dropping a scratch database panicked"),
        }
    }
}

async fn connect(server_url: &str) -> anyhow::Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    let shown = super::Location::Postgres(server_url.to_owned()).to_string();
    AnyConnection::connect(server_url)
        .await
        .with_context(|| format!("connecting to {shown}"))
}

async fn drop_database(admin: &mut AnyConnection, name: &str) -> anyhow::Result<()> {
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .with_context(|| format!("dropping database {name}"))?;
    Ok(())
}
