//! Which database the store runs on, and how it is reached: SQLite in a
//! file beside the host, or PostgreSQL shared by several replicas.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;

/// SQLite's migrations; their PostgreSQL twins carry the same versions.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// PostgreSQL's migrations, one for each of SQLite's.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-postgres");

/// Connections each replica keeps to PostgreSQL: enough for the batches
/// in flight to store their audit while others claim keys.
const POSTGRES_CONNECTIONS: u32 = 10;

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one writer at a time, one host.
    Sqlite,
    /// A server that several replicas share.
    Postgres,
}

impl Backend {
    /// What to append to a `SELECT` that picks rows for this caller to
    /// work on, so that concurrent callers pick different rows instead of
    /// waiting for each other: `FOR UPDATE SKIP LOCKED` on PostgreSQL.
    /// Nothing on SQLite, whose single writer already serialises claims.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// Where the store lives, as `DATABASE_URL` or `--database` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user@host:port/database`).
    Postgres(String),
}

impl Location {
    /// Reads `sqlite://path`, `sqlite:path`, `postgres://...`,
    /// `postgresql://...`, or a bare path (SQLite).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            // Without a host and a database, the driver falls back on the
            // environment's defaults and migrates whatever database that is.
            let url = url::Url::parse(text)
                .map_err(|e| anyhow::anyhow!("the PostgreSQL database URL is not a URL: {e}"))?;
            let database = url.path().trim_start_matches('/');
            // A socket directory may come as `?host=/run/postgresql`.
            let host = url.host_str().is_some_and(|h| !h.is_empty())
                || url.query_pairs().any(|(key, _)| key == "host");
            if !host || database.is_empty() {
                let mut shown = url.clone();
                if shown.password().is_some() {
                    let _ = shown.set_password(Some("***"));
                }
                anyhow::bail!(
                    "database URL `{shown}` must name a host and a database, as in \
                     postgres://user@host:5432/conduit"
                );
            }
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            anyhow::ensure!(
                !path.is_empty(),
                "database URL `{text}` names no SQLite file"
            );
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        anyhow::ensure!(
            !text.contains("://"),
            "database URL `{text}`: only sqlite:// and postgres:// databases are supported"
        );
        anyhow::ensure!(!text.is_empty(), "the database URL is empty");
        Ok(Self::Sqlite(PathBuf::from(text)))
    }

    /// The backend this location is on.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite file's directory, where state kept beside the database
    /// (the compiled plugin cache) goes; none on PostgreSQL.
    pub fn directory(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path.parent().unwrap_or(Path::new("."))),
            Self::Postgres(_) => None,
        }
    }

    /// Connects, and brings the schema up to date with the backend's
    /// migrations.
    pub(super) async fn connect(&self) -> anyhow::Result<AnyPool> {
        sqlx::any::install_default_drivers();
        let pool = match self {
            Self::Sqlite(path) => connect_sqlite(path).await?,
            Self::Postgres(url) => connect_postgres(url).await?,
        };
        let migrations = match self.backend() {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // On PostgreSQL the migrator holds an advisory lock while it runs,
        // so replicas starting together migrate one after the other.
        migrations
            .run(&pool)
            .await
            .context("migrating the database")?;
        Ok(pool)
    }
}

impl fmt::Display for Location {
    /// The location without a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("an unreadable PostgreSQL URL"),
            },
        }
    }
}

async fn connect_sqlite(path: &Path) -> anyhow::Result<AnyPool> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let options: AnyConnectOptions = url
        .parse()
        .with_context(|| format!("bad database path {}", path.display()))?;
    // SQLite has one writer at a time; one connection makes writers queue
    // in the pool instead of failing with `database is locked`. The `Any`
    // driver opens SQLite from a URL alone, so the journal and sync modes
    // are set on each connection as it opens.
    AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("opening database {}", path.display()))
}

async fn connect_postgres(url: &str) -> anyhow::Result<AnyPool> {
    let shown = Location::Postgres(url.to_owned()).to_string();
    let options: AnyConnectOptions = url
        .parse()
        .with_context(|| format!("bad PostgreSQL URL {shown}"))?;
    AnyPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_their_backend() {
        let sqlite = |p: &str| Location::Sqlite(PathBuf::from(p));
        assert_eq!(
            Location::parse("conduit.db").ok(),
            Some(sqlite("conduit.db"))
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/c.db").ok(),
            Some(sqlite("/tmp/c.db"))
        );
        assert_eq!(Location::parse("sqlite://c.db").ok(), Some(sqlite("c.db")));
        assert_eq!(Location::parse("sqlite:c.db").ok(), Some(sqlite("c.db")));
        let pg = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(
            Location::parse(pg).map(|l| l.backend()).ok(),
            Some(Backend::Postgres)
        );
        assert!(Location::parse("postgresql://db/x").is_ok());
    }

    #[test]
    fn an_unknown_scheme_is_refused_by_name() {
        let error = Location::parse("mysql://db/x").err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("mysql://db/x")));
        assert!(Location::parse("").is_err());
        assert!(Location::parse("sqlite://").is_err());
    }

    #[test]
    fn a_postgres_url_names_its_host_and_database() {
        for url in [
            "postgres://",
            "postgres://app@db:5432",
            "postgres:///conduit",
        ] {
            let error = Location::parse(url).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("must name a host and a database")),
                "{url}: {error:?}"
            );
        }
        let hidden = Location::parse("postgres://app:hunter2@db").err();
        assert!(hidden.is_some_and(|e| !e.to_string().contains("hunter2")));
        assert!(Location::parse("postgres:///conduit?host=/run/postgresql").is_ok());
    }

    #[test]
    fn a_password_is_not_shown() {
        let location = Location::Postgres("postgres://app:hunter2@db:5432/conduit".into());
        assert_eq!(location.to_string(), "postgres://app:***@db:5432/conduit");
    }
}
