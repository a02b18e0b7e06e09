//! Shared harness for conduit's end-to-end tests: the simulators, the host on
//! a database of its own, plugins built from source, and an agent that talks
//! to the host over HTTP.
//!
//! The database is a SQLite file in the test's temporary directory, or, when
//! `CONDUIT_TEST_DATABASE_URL` names a PostgreSQL server
//! (`postgres://postgres@127.0.0.1:5432/test`), a database created on that
//! server for the test and dropped after it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use conduit_crm_sim::{Sim, hubspot, salesforce};
use conduit_host::api::{self, AppState};
use conduit_host::config::{ConfigSet, Provider};
use conduit_host::pipeline::{Pipeline, Worker, WorkerOptions};
use conduit_host::plugin::{PluginRuntime, RuntimeConfig, build_plugin};
use conduit_host::secrets::SecretKey;
use conduit_host::store::scratch::ScratchDatabase;
use conduit_host::store::{Location, Store};

pub mod proxy;

/// The variable naming the PostgreSQL server tests run against.
pub const TEST_DATABASE_URL: &str = "CONDUIT_TEST_DATABASE_URL";

/// The PostgreSQL server this run's tests use, if it is for PostgreSQL.
pub fn postgres_server() -> anyhow::Result<Option<String>> {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        return Ok(None);
    };
    match Location::parse(&url).with_context(|| format!("in {TEST_DATABASE_URL}"))? {
        Location::Postgres(url) => Ok(Some(url)),
        Location::Sqlite(_) => Ok(None),
    }
}

/// A fresh database on `server`, after dropping what killed runs left.
async fn scratch_database(server: &str) -> anyhow::Result<ScratchDatabase> {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_try_init(|| ScratchDatabase::sweep(server))
        .await?;
    ScratchDatabase::create(server).await
}

/// Where a test keeps its state: a temporary directory and the database the
/// run is for, both gone when this is dropped.
pub struct TestState {
    location: Location,
    // Dropped before the directory: the database may be a file in it.
    _scratch: Option<ScratchDatabase>,
    dir: tempfile::TempDir,
}

impl TestState {
    /// A new directory and an empty database.
    pub async fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (location, scratch) = match postgres_server()? {
            Some(server) => {
                let scratch = scratch_database(&server).await?;
                (Location::Postgres(scratch.url().to_owned()), Some(scratch))
            }
            None => (Location::Sqlite(dir.path().join("conduit.db")), None),
        };
        Ok(Self {
            location,
            _scratch: scratch,
            dir,
        })
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Opens the database, sealed with `key`.
    pub async fn open_store(&self, key: SecretKey) -> anyhow::Result<Store> {
        Store::open(&self.location, key).await
    }

    /// Everything the database holds at rest, as bytes to search: the
    /// SQLite file, or every row of every table on PostgreSQL as text.
    pub async fn stored_bytes(&self) -> anyhow::Result<Vec<u8>> {
        use sqlx::{AssertSqlSafe, Connection, Row};
        let url = match &self.location {
            Location::Sqlite(path) => {
                return std::fs::read(path).with_context(|| format!("reading {}", path.display()));
            }
            Location::Postgres(url) => url,
        };
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(url).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema()",
        )
        .fetch_all(&mut db)
        .await?;
        let mut bytes = Vec::new();
        for table in tables {
            let sql = format!("SELECT CAST(t AS TEXT) AS row FROM \"{table}\" AS t");
            for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut db).await? {
                bytes.extend(row.get::<String, _>("row").into_bytes());
            }
        }
        Ok(bytes)
    }
}

/// The database of the state directory `dir`, the same each time it is
/// asked for, so that a host started again on `dir` finds what it stored.
/// On PostgreSQL, a database is dropped once its directory is gone.
async fn database_of(dir: &Path) -> anyhow::Result<Location> {
    type Databases = HashMap<PathBuf, Arc<ScratchDatabase>>;
    static DATABASES: OnceLock<tokio::sync::Mutex<Databases>> = OnceLock::new();
    let Some(server) = postgres_server()? else {
        return Ok(Location::Sqlite(dir.join("conduit.db")));
    };
    let mut databases = DATABASES.get_or_init(Default::default).lock().await;
    databases.retain(|dir, _| dir.exists());
    let database = match databases.get(dir) {
        Some(database) => database.clone(),
        None => {
            let database = Arc::new(scratch_database(&server).await?);
            databases.insert(dir.to_owned(), database.clone());
            database
        }
    };
    Ok(Location::Postgres(database.url().to_owned()))
}

/// The checkout's root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The demo's config directory.
pub fn examples_dir() -> PathBuf {
    workspace_root().join("examples")
}

/// A config directory with the examples' integration and one customer,
/// `customers/{customer}.yaml` holding `yaml`.
pub fn config_with_customer(customer: &str, yaml: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        examples_dir().join("integration.yaml"),
        dir.path().join("integration.yaml"),
    )?;
    std::fs::create_dir(dir.path().join("customers"))?;
    std::fs::write(dir.path().join(format!("customers/{customer}.yaml")), yaml)?;
    Ok(dir)
}

/// A config directory with the examples' integration and a customer file
/// per `(customer, yaml)`.
pub fn config_with_customers(customers: &[(&str, &str)]) -> anyhow::Result<tempfile::TempDir> {
    let (first, rest) = customers
        .split_first()
        .context("a config needs at least one customer")?;
    let dir = config_with_customer(first.0, first.1)?;
    for (customer, yaml) in rest {
        std::fs::write(dir.path().join(format!("customers/{customer}.yaml")), yaml)?;
    }
    Ok(dir)
}

/// A plugin component built from source, once per test binary and package.
pub fn plugin_wasm(package: &str) -> anyhow::Result<Vec<u8>> {
    static BUILT: OnceLock<Mutex<BTreeMap<String, Vec<u8>>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built
        .lock()
        .map_err(|_| anyhow::anyhow!("plugin build lock poisoned"))?;
    if let Some(wasm) = built.get(package) {
        return Ok(wasm.clone());
    }
    let path = build_plugin(&workspace_root(), package)?;
    let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    built.insert(package.to_owned(), wasm.clone());
    Ok(wasm)
}

/// `wasm` carrying `fixtures` (a `fixtures.json` document) as
/// `conduit plugin build` embeds them.
pub fn with_fixtures(wasm: &[u8], fixtures: &Value) -> Vec<u8> {
    use conduit_host::lifecycle::section::{FIXTURES_SECTION, with_custom_section};
    with_custom_section(wasm, FIXTURES_SECTION, fixtures.to_string().as_bytes())
}

/// Everything the host logged in this test process, at debug level.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Sends the host's logs, at debug level, into [`logged`]; once per process.
fn capture_logs() {
    let buffer = LOGS.get_or_init(Default::default).clone();
    let writer = move || Capture(buffer.clone());
    let filter = tracing_subscriber::EnvFilter::new("debug,hyper=info,h2=info,sqlx=warn");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}

/// What the host has logged so far in this test process.
pub fn logged() -> String {
    let buffer = LOGS.get_or_init(Default::default);
    let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running host with both simulators behind it.
pub struct Harness {
    /// The Salesforce simulator.
    pub salesforce: Sim<salesforce::Org>,
    /// The HubSpot simulator.
    pub hubspot: Sim<hubspot::Org>,
    /// The host's base URL.
    pub base: String,
    /// The API key the host requires.
    pub api_key: String,
    /// The host's write path, for what the API does not show (the store).
    pub pipeline: Arc<Pipeline>,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _worker: Worker,
    _state: Option<TestState>,
}

impl Harness {
    /// Starts everything on `config_dir`, connects every customer to the
    /// simulator of its CRM and uploads the plugins they run.
    pub async fn start(config_dir: &Path) -> anyhow::Result<Self> {
        let state = TestState::new().await?;
        let key = SecretKey::ephemeral();
        let mut harness = Self::start_in(config_dir, &state, key, true).await?;
        harness._state = Some(state);
        Ok(harness)
    }

    /// Like [`start`](Self::start), keeping the database and the compiled
    /// plugin cache (`plugin-cache/`) in `state_dir`, so that a second
    /// harness on the same directory is the same host restarted (on
    /// PostgreSQL, the database stays while `state_dir` exists).
    pub async fn start_with_database(config_dir: &Path, state_dir: &Path) -> anyhow::Result<Self> {
        let key = SecretKey::from_hex(&"42".repeat(32))?;
        let database = database_of(state_dir).await?;
        Self::start_on(config_dir, state_dir, &database, key, true).await
    }

    /// Like [`start`](Self::start), uploading no plugin: for plugins the
    /// test builds and pushes itself.
    pub async fn start_without_plugins(config_dir: &Path) -> anyhow::Result<Self> {
        let state = TestState::new().await?;
        let key = SecretKey::ephemeral();
        let mut harness = Self::start_in(config_dir, &state, key, false).await?;
        harness._state = Some(state);
        Ok(harness)
    }

    async fn start_in(
        config_dir: &Path,
        state: &TestState,
        key: SecretKey,
        upload_plugins: bool,
    ) -> anyhow::Result<Self> {
        Self::start_on(
            config_dir,
            state.path(),
            state.location(),
            key,
            upload_plugins,
        )
        .await
    }

    async fn start_on(
        config_dir: &Path,
        state_dir: &Path,
        database: &Location,
        key: SecretKey,
        upload_plugins: bool,
    ) -> anyhow::Result<Self> {
        capture_logs();
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let salesforce = salesforce::serve(salesforce::Profile::default(), loopback).await?;
        let hubspot = hubspot::serve(hubspot::Profile::default(), loopback).await?;

        let configs = ConfigSet::load_dir(config_dir)?;
        let customers: Vec<_> = configs.customers().cloned().collect();
        let store = Store::open(database, key).await?;
        let runtime = PluginRuntime::new(RuntimeConfig {
            cache_dir: Some(state_dir.join("plugin-cache")),
            ..RuntimeConfig::default()
        })?;
        let pipeline = Arc::new(Pipeline::new(configs, store, runtime).await?);

        let listener = tokio::net::TcpListener::bind(loopback).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let api_key = "test-key".to_owned();
        let state = AppState {
            pipeline: pipeline.clone(),
            api_key: Some(api_key.clone().into()),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let deliveries = conduit_host::sync::webhooks::spawn(pipeline.clone());
        tokio::spawn(async move {
            let _ = api::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await;
            deliveries.abort();
        });

        let worker = Worker::spawn(pipeline.clone(), WorkerOptions::default());
        let harness = Self {
            salesforce,
            hubspot,
            base,
            api_key,
            pipeline,
            http: reqwest::Client::new(),
            stop: Some(stop),
            _worker: worker,
            _state: None,
        };
        for config in &customers {
            let (base_url, oauth) = match config.provider {
                Provider::Salesforce => (
                    harness.salesforce.base_url.clone(),
                    harness.salesforce.org.oauth_client(),
                ),
                Provider::Hubspot => (
                    harness.hubspot.base_url.clone(),
                    harness.hubspot.org.oauth_client(),
                ),
            };
            let body = json!({
                "base_url": base_url,
                "client_id": oauth.client_id,
                "client_secret": oauth.client_secret,
                "refresh_token": oauth.refresh_token,
            });
            let path = format!("/v1/customers/{}/connection", config.customer);
            harness
                .request(reqwest::Method::PUT, &path)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
            if let Some(plugin) = config.plugin.as_ref().filter(|_| upload_plugins) {
                let wasm = plugin_wasm(&plugin.name)?;
                let path = format!("/v1/plugins/{}/{}", plugin.name, plugin.version);
                harness
                    .request(reqwest::Method::PUT, &path)
                    .body(wasm)
                    .send()
                    .await?
                    .error_for_status()?;
            }
        }
        Ok(harness)
    }

    /// A request to the host with the API key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_as(&self.api_key, method, path)
    }

    /// A request to the host with `key`.
    pub fn request_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    /// Creates an API key with `role` over `customers` (none: every
    /// customer) through the admin API, and returns it.
    pub async fn create_key(
        &self,
        name: &str,
        role: &str,
        customers: &[&str],
    ) -> anyhow::Result<String> {
        let body = json!({ "name": name, "role": role, "customers": customers });
        let response = self
            .request(reqwest::Method::POST, "/v1/keys")
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("creating key `{name}` answered {status}: {answer}");
        }
        answer["key"]
            .as_str()
            .map(str::to_owned)
            .context("the answer has no key")
    }

    /// Sends a batch of write intents and returns the host's whole answer.
    pub async fn write(&self, customer: &str, records: Value) -> anyhow::Result<Value> {
        self.send_writes(customer, json!({ "records": records }))
            .await
    }

    /// Sends a batch as a dry run and returns the host's whole answer.
    pub async fn dry_run(&self, customer: &str, records: Value) -> anyhow::Result<Value> {
        let body = json!({ "records": records, "dry_run": true });
        self.send_writes(customer, body).await
    }

    /// Sends a whole write request body (`records`, `activities`,
    /// `dry_run`) and returns the host's answer.
    pub async fn send_writes(&self, customer: &str, body: Value) -> anyhow::Result<Value> {
        let path = format!("/v1/customers/{customer}/writes");
        let response = self
            .request(reqwest::Method::POST, &path)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("host answered {status}: {body}");
        }
        Ok(body)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The results of a write answer.
pub fn results(answer: &Value) -> Vec<Value> {
    answer
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The status of each result of a write answer, in order; `-` where one
/// has none.
pub fn statuses(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("-").to_owned())
        .collect()
}
