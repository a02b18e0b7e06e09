//! The `conduit` command: serve the API, run the demo, check configs, run
//! the CRM simulators.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use conduit_host::access::{self, Role};
use conduit_host::api::{self, AppState};
use conduit_host::author;
use conduit_host::config::{self, ConfigSet, Provider};
use conduit_host::demo::{self, DemoOptions};
use conduit_host::pipeline::{Pipeline, Worker, WorkerOptions};
use conduit_host::plugin::{PluginRuntime, RuntimeConfig};
use conduit_host::schedule;
use conduit_host::secrets::SecretKey;
use conduit_host::store::{Location, Store};
use conduit_host::sync;
use conduit_host::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "conduit",
    version,
    about = "Safe, configurable CRM writes for AI sales agents"
)]
struct Cli {
    /// How log lines are written to stderr: `text` or `json` (one object
    /// per line, with the request id, customer and plugin of its spans).
    #[arg(long, global = true, env = "CONDUIT_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// The config directory (integration.yaml, customers/).
        #[arg(long, default_value = "examples")]
        config: PathBuf,
        /// The SQLite database file; `conduit.db` unless given here or in
        /// `--database-url`.
        #[arg(long)]
        database: Option<PathBuf>,
        /// The database: `postgres://user@host:port/name` for PostgreSQL,
        /// which several replicas may share, or `sqlite://path`.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Bearer key callers must send; unset means no key is required.
        #[arg(long, env = "CONDUIT_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Where compiled plugins are cached across restarts, by content
        /// hash; `plugin-cache/` beside the database unless given.
        #[arg(long)]
        plugin_cache: Option<PathBuf>,
        /// The key connections are sealed with, as 64 hex digits; required
        /// (here or in `--secret-key-file`).
        #[arg(long, env = "CONDUIT_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// A file holding the key as 64 hex digits.
        #[arg(long, conflicts_with = "secret_key")]
        secret_key_file: Option<PathBuf>,
        /// Seconds a replica's claim on the intents it runs holds unless
        /// renewed: how soon the intents of a replica that stopped resume.
        #[arg(long, env = "CONDUIT_LEASE_SECONDS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        lease_seconds: u64,
    },
    /// Replay the public sales dataset into simulated Salesforce and HubSpot
    /// orgs through the whole write path, and print what happened.
    Demo {
        /// The directory holding integration.yaml, customers/ and data/.
        #[arg(long, default_value_os_t = demo::default_examples_dir())]
        examples: PathBuf,
        /// Records per API request.
        #[arg(long, default_value_t = 200)]
        batch: usize,
        /// Requests in flight per customer.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// The customers the whole dataset is replayed for, comma-separated
        /// (`all` for every customer); every customer then logs calls and
        /// meetings in its own activity pattern.
        #[arg(long, value_delimiter = ',', default_value = "northwind,globex")]
        customers: Vec<String>,
    },
    /// Validate a config directory offline; exits non-zero on any error.
    Check {
        /// The config directory.
        dir: PathBuf,
    },
    /// Create, list or revoke the API keys of a host's database, e.g. the
    /// first admin key of a host started without `CONDUIT_API_KEY`.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
        /// The SQLite database file `serve` uses.
        #[arg(long, global = true)]
        database: Option<PathBuf>,
        /// The database `serve` uses, as its `--database-url`.
        #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// The key the database is sealed with, as 64 hex digits.
        #[arg(
            long,
            global = true,
            env = "CONDUIT_SECRET_KEY",
            hide_env_values = true
        )]
        secret_key: Option<String>,
        /// A file holding that key.
        #[arg(long, global = true, conflicts_with = "secret_key")]
        secret_key_file: Option<PathBuf>,
    },
    /// Write, build, test and upload a plugin.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Run the Salesforce and HubSpot simulators on loopback, with the
    /// example customers' reps as users and owners.
    Sim {
        /// Port for the Salesforce simulator.
        #[arg(long, default_value_t = 8081)]
        salesforce_port: u16,
        /// Port for the HubSpot simulator.
        #[arg(long, default_value_t = 8082)]
        hubspot_port: u16,
        /// The directory whose customers' reps are seeded: each rep of
        /// `data/sales_teams.csv` as `first.last@CUSTOMER.example`.
        #[arg(long, default_value_os_t = demo::default_examples_dir())]
        examples: PathBuf,
        /// A YAML file with the `salesforce` and `hubspot` simulator profiles
        /// (see crm-sim/README.md); the default org and portal without it.
        #[arg(long)]
        profile: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin crate from the SDK's template, with a sample fixture.
    New {
        /// The plugin's package name, e.g. `acme-deal-stages`.
        name: String,
        /// The directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The plugin SDK the crate depends on, by path.
        #[arg(long, default_value_os_t = author::default_sdk())]
        sdk: PathBuf,
    },
    /// Build the component for wasm32-wasip2, with its fixture cases inside.
    Build {
        /// The plugin crate.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Where cargo builds; `CARGO_TARGET_DIR` or the crate's `target/`.
        #[arg(long, env = "CARGO_TARGET_DIR")]
        target_dir: Option<PathBuf>,
    },
    /// Build, then run the fixture cases in the host's runtime; prints what
    /// differed and exits non-zero when a case fails.
    Test {
        /// The plugin crate.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Where cargo builds; `CARGO_TARGET_DIR` or the crate's `target/`.
        #[arg(long, env = "CARGO_TARGET_DIR")]
        target_dir: Option<PathBuf>,
    },
    /// Build, then upload to a host, which vets it and runs its cases.
    Push {
        /// The plugin crate.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Where cargo builds; `CARGO_TARGET_DIR` or the crate's `target/`.
        #[arg(long, env = "CARGO_TARGET_DIR")]
        target_dir: Option<PathBuf>,
        /// The host's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        host: String,
        /// An `engineer` or `admin` key.
        #[arg(long, env = "CONDUIT_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key and print it (shown this once; only its hash is kept).
    Create {
        /// What the key is for, e.g. `globex agent`.
        #[arg(long)]
        name: String,
        /// `agent`, `cs`, `engineer` or `admin`.
        #[arg(long)]
        role: Role,
        /// A customer the key may act for; repeat for more. Required for
        /// `agent`; none means every customer.
        #[arg(long = "customer")]
        customers: Vec<String>,
    },
    /// List every key, revoked ones included.
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The key's id, as `list` shows it.
        id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            database,
            database_url,
            listen,
            api_key,
            plugin_cache,
            secret_key,
            secret_key_file,
            lease_seconds,
        } => {
            telemetry::init("info", cli.log_format);
            let database = location(database, database_url);
            match (secret(secret_key, secret_key_file), database) {
                (Ok(key), Ok(database)) => {
                    let options = ServeOptions {
                        config,
                        database,
                        listen,
                        api_key,
                        plugin_cache,
                        lease: std::time::Duration::from_secs(lease_seconds),
                    };
                    serve(options, key).await
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        Command::Demo {
            examples,
            batch,
            concurrency,
            mut customers,
        } => {
            telemetry::init("warn", cli.log_format);
            customers.retain(|c| c != "all");
            demo::run(DemoOptions {
                examples,
                batch,
                concurrency,
                customers,
            })
            .await
        }
        Command::Check { dir } => return check(&dir),
        Command::Plugin { command } => {
            telemetry::init("warn", cli.log_format);
            return plugin(command).await;
        }
        Command::Key {
            command,
            database,
            database_url,
            secret_key,
            secret_key_file,
        } => {
            telemetry::init("warn", cli.log_format);
            let options = (
                secret(secret_key, secret_key_file),
                location(database, database_url),
            );
            match options {
                (Ok(key), Ok(database)) => keys(command, &database, key).await,
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        Command::Sim {
            salesforce_port,
            hubspot_port,
            examples,
            profile,
        } => {
            telemetry::init("info", cli.log_format);
            sim(salesforce_port, hubspot_port, &examples, profile.as_deref()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conduit: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The key connections are sealed with. `serve` refuses to start without
/// one: tokens in the clear on disk are a breach waiting for a backup.
fn secret(hex: Option<String>, file: Option<PathBuf>) -> anyhow::Result<SecretKey> {
    match (hex, file) {
        (Some(hex), _) => SecretKey::from_hex(&hex).context("in CONDUIT_SECRET_KEY"),
        (None, Some(file)) => SecretKey::from_file(&file),
        (None, None) => anyhow::bail!(
            "no secret key: set CONDUIT_SECRET_KEY or --secret-key-file to 64 hex digits \
             (e.g. `openssl rand -hex 32`); connections are stored sealed with it"
        ),
    }
}

/// The SQLite file `--database` names, else the database `--database-url`
/// (or `DATABASE_URL`) names, else `conduit.db`: a file given on the command
/// line wins over a URL in the environment.
fn location(database: Option<PathBuf>, url: Option<String>) -> anyhow::Result<Location> {
    match (database, url) {
        (Some(path), _) => Ok(Location::Sqlite(path)),
        (None, Some(url)) => Location::parse(&url).context("in --database-url (DATABASE_URL)"),
        (None, None) => Ok(Location::Sqlite(PathBuf::from("conduit.db"))),
    }
}

/// What `conduit serve` was started with.
struct ServeOptions {
    config: PathBuf,
    database: Location,
    listen: SocketAddr,
    api_key: Option<String>,
    plugin_cache: Option<PathBuf>,
    lease: std::time::Duration,
}

async fn serve(options: ServeOptions, key: SecretKey) -> anyhow::Result<()> {
    let ServeOptions {
        config,
        database,
        listen,
        api_key,
        plugin_cache,
        lease,
    } = options;
    let configs = ConfigSet::load_dir(&config)?;
    let store = Store::open(&database, key).await?;
    tracing::info!(database = %database, "store open");
    // Beside a SQLite file; in the working directory when the database is
    // a server's.
    let plugin_cache = plugin_cache.unwrap_or_else(|| {
        let dir = database.directory().unwrap_or(Path::new("."));
        dir.join("plugin-cache")
    });
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(plugin_cache),
        ..Default::default()
    })?;
    let pipeline = Arc::new(
        Pipeline::new(configs, store, runtime)
            .await?
            .with_lease(lease),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let listen = listener.local_addr().unwrap_or(listen);
    tracing::info!(%listen, "conduit serving");
    if api_key.is_none() && !pipeline.store().has_api_keys().await? {
        tracing::warn!(
            "CONDUIT_API_KEY is not set and the store holds no API key: every caller that \
             reaches {listen} is trusted as an admin (create a key with `conduit key create`)"
        );
    }
    // Intents a stopped host left unfinished resume from here on.
    let worker = Worker::spawn(pipeline.clone(), WorkerOptions::default());
    // Changes go out to webhooks from every replica; leases keep each
    // delivery to one sender.
    let deliveries = sync::webhooks::spawn(pipeline.clone());
    let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(schedule::host_tasks(&pipeline).run(
        {
            let pipeline = pipeline.clone();
            move || pipeline.scheduled_customers()
        },
        async {
            let _ = scheduler_stopped.await;
        },
    ));

    let state = AppState {
        pipeline,
        api_key: api_key.map(Into::into),
    };
    let served = api::serve(listener, state, shutdown_signal()).await;
    let _ = stop_scheduler.send(());
    let _ = scheduler.await;
    deliveries.abort();
    worker.stop().await;
    served.context("serving the API")?;
    tracing::info!("conduit stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM (what an orchestrator sends first): the
/// server then stops accepting and finishes the requests in flight.
async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with ctrl-c");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// `conduit plugin ...`. `test` exits 1 when a case fails, like the others
/// on an error.
async fn plugin(command: PluginCommand) -> ExitCode {
    let target = |path: &Path, target_dir: Option<PathBuf>| {
        target_dir.unwrap_or_else(|| path.join("target"))
    };
    let result = match command {
        PluginCommand::New { name, dir, sdk } => author::new_crate(&dir, &name, &sdk).map(|root| {
            println!(
                "created {}; next: cd there and `conduit plugin test`",
                root.display()
            );
        }),
        PluginCommand::Build { path, target_dir } => {
            author::build(&path, &target(&path, target_dir)).map(|built| {
                println!("{}", built.path.display());
            })
        }
        PluginCommand::Test { path, target_dir } => {
            let report = author::build(&path, &target(&path, target_dir))
                .and_then(|built| author::test(&built));
            match report {
                Ok(report) => {
                    print!("{}", report.render());
                    return if report.all_passed() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    };
                }
                Err(e) => Err(e),
            }
        }
        PluginCommand::Push {
            path,
            target_dir,
            host,
            key,
        } => match author::build(&path, &target(&path, target_dir)) {
            Ok(built) => author::push(&built, &host, key.as_deref())
                .await
                .map(|answer| println!("{answer:#}")),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conduit: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn keys(command: KeyCommand, database: &Location, key: SecretKey) -> anyhow::Result<()> {
    let store = Store::open(database, key).await?;
    match command {
        KeyCommand::Create {
            name,
            role,
            customers,
        } => {
            let actor = access::command_line();
            let (key, secret) = access::create_key(&store, &actor, &name, role, customers).await?;
            println!(
                "{}",
                serde_json::json!({ "id": key.id, "role": key.role, "key": secret })
            );
        }
        KeyCommand::List => {
            for key in store.api_keys().await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeyCommand::Revoke { id } => {
            if !access::revoke_key(&store, &access::command_line(), &id).await? {
                anyhow::bail!("no unrevoked key `{id}`");
            }
        }
    }
    Ok(())
}

fn check(dir: &Path) -> ExitCode {
    let passed = config::check_dir(dir, &mut std::io::stdout(), &mut std::io::stderr());
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn sim(
    salesforce_port: u16,
    hubspot_port: u16,
    examples: &Path,
    profile: Option<&Path>,
) -> anyhow::Result<()> {
    use conduit_crm_sim::{Profiles, hubspot, salesforce};

    // 1. The example customers and their reps, as `conduit demo` has them.
    let configs = ConfigSet::load_dir(examples)?;
    let reps = demo::load_reps(&examples.join("data"))?;

    // 2. One org per CRM, the reps of every customer on it seeded.
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let profiles = match profile {
        Some(path) => Profiles::from_yaml_file(path)?,
        None => Profiles::default(),
    };
    let sf = salesforce::serve(profiles.salesforce, loopback(salesforce_port)).await?;
    let hs = hubspot::serve(profiles.hubspot, loopback(hubspot_port)).await?;
    for config in configs.customers() {
        let domain = format!("{}.example", config.customer);
        for rep in reps.values() {
            let email = rep.email(&domain);
            match config.provider {
                Provider::Salesforce => drop(sf.org.add_user(&email, &rep.first, &rep.last)),
                Provider::Hubspot => drop(hs.org.add_owner(&email, &rep.first, &rep.last)),
            }
        }
    }

    // 3. What an operator needs to connect a customer of `conduit serve`.
    println!("salesforce simulator: {}", sf.base_url);
    println!("hubspot simulator:    {}", hs.base_url);
    for config in configs.customers() {
        let (base_url, oauth) = match config.provider {
            Provider::Salesforce => (&sf.base_url, sf.org.oauth_client()),
            Provider::Hubspot => (&hs.base_url, hs.org.oauth_client()),
        };
        let body = serde_json::json!({
            "base_url": base_url,
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "refresh_token": oauth.refresh_token,
        });
        println!(
            "\n{} ({}): {} reps as first.last@{}.example; connect it with\n  \
             PUT /v1/customers/{}/connection\n  {body}",
            config.customer,
            config.provider,
            reps.len(),
            config.customer,
            config.customer,
        );
    }

    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    sf.shutdown().await;
    hs.shutdown().await;
    Ok(())
}
