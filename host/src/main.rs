//! The `conduit` command: serve the API, run the demo, check configs, run
//! the CRM simulators.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use conduit_host::api::{self, AppState};
use conduit_host::config::ConfigSet;
use conduit_host::demo::{self, DemoOptions};
use conduit_host::pipeline::Pipeline;
use conduit_host::plugin::{PluginRuntime, RuntimeConfig};
use conduit_host::store::Store;
use conduit_host::telemetry;

#[derive(Parser)]
#[command(
    name = "conduit",
    version,
    about = "Safe, configurable CRM writes for AI sales agents"
)]
struct Cli {
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
        /// The SQLite database file.
        #[arg(long, default_value = "conduit.db")]
        database: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Bearer key callers must send; unset means no key is required.
        #[arg(long, env = "CONDUIT_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Where compiled plugins are cached across restarts.
        #[arg(long)]
        plugin_cache: Option<PathBuf>,
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
    },
    /// Validate a config directory offline; exits non-zero on any error.
    Check {
        /// The config directory.
        dir: PathBuf,
    },
    /// Run the Salesforce and HubSpot simulators on loopback.
    Sim {
        /// Port for the Salesforce simulator.
        #[arg(long, default_value_t = 8081)]
        salesforce_port: u16,
        /// Port for the HubSpot simulator.
        #[arg(long, default_value_t = 8082)]
        hubspot_port: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            database,
            listen,
            api_key,
            plugin_cache,
        } => {
            telemetry::init("info");
            serve(config, database, listen, api_key, plugin_cache).await
        }
        Command::Demo {
            examples,
            batch,
            concurrency,
        } => {
            telemetry::init("warn");
            demo::run(DemoOptions {
                examples,
                batch,
                concurrency,
            })
            .await
        }
        Command::Check { dir } => return check(&dir),
        Command::Sim {
            salesforce_port,
            hubspot_port,
        } => {
            telemetry::init("info");
            sim(salesforce_port, hubspot_port).await
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

async fn serve(
    config: PathBuf,
    database: PathBuf,
    listen: SocketAddr,
    api_key: Option<String>,
    plugin_cache: Option<PathBuf>,
) -> anyhow::Result<()> {
    let configs = ConfigSet::load_dir(&config)?;
    let store = Store::open_sqlite(&database).await?;
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: plugin_cache,
        ..Default::default()
    })?;
    let pipeline = Arc::new(Pipeline::new(configs, store, runtime).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, "conduit serving");
    let state = AppState {
        pipeline,
        api_key: api_key.map(Into::into),
    };
    api::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("serving the API")
}

fn check(dir: &std::path::Path) -> ExitCode {
    match ConfigSet::load_dir(dir) {
        Ok(set) => {
            for customer in set.customers() {
                println!(
                    "ok  {} ({}, {} entities, config {})",
                    customer.customer,
                    customer.provider,
                    customer.entities.len(),
                    customer.version
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

async fn sim(salesforce_port: u16, hubspot_port: u16) -> anyhow::Result<()> {
    use conduit_crm_sim::{hubspot, salesforce};
    let sf = salesforce::serve(
        salesforce::Profile::default(),
        SocketAddr::from(([127, 0, 0, 1], salesforce_port)),
    )
    .await?;
    let hs = hubspot::serve(
        hubspot::Profile::default(),
        SocketAddr::from(([127, 0, 0, 1], hubspot_port)),
    )
    .await?;
    println!("salesforce simulator: {}", sf.base_url);
    println!("hubspot simulator:    {}", hs.base_url);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    sf.shutdown().await;
    hs.shutdown().await;
    Ok(())
}
