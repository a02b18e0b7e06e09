//! Two `conduit serve` processes on one PostgreSQL database, started at the
//! same moment: both migrate it without tripping over each other, and what
//! one stores the other uses. Runs when `CONDUIT_TEST_DATABASE_URL` names a
//! PostgreSQL server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use conduit_host::store::Location;
use conduit_host::store::scratch::ScratchDatabase;
use serde_json::{Value, json};

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A running `conduit serve`, killed when dropped.
struct Replica {
    child: Child,
    listen: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(database_url: &str, cache: &std::path::Path) -> anyhow::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
        .arg("--plugin-cache")
        .arg(cache)
        .env("DATABASE_URL", database_url)
        .env("CONDUIT_SECRET_KEY", SECRET)
        .env("CONDUIT_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("CONDUIT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting conduit serve")
}

/// Waits for `child` to say where it listens.
fn serving(mut child: Child) -> anyhow::Result<Replica> {
    let stderr = child.stderr.take().context("no stderr")?;
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
        if parsed["fields"]["message"] == "conduit serving" {
            let listen = parsed["fields"]["listen"].as_str().context("no address")?;
            return Ok(Replica {
                listen: listen.to_owned(),
                child,
            });
        }
        seen.push(line);
    }
    let _ = child.kill();
    bail!("a replica did not start: {seen:#?}")
}

#[tokio::test]
async fn two_replicas_start_together_on_one_database_and_share_it() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("CONDUIT_TEST_DATABASE_URL") else {
        eprintln!("skipped: CONDUIT_TEST_DATABASE_URL names no PostgreSQL server");
        return Ok(());
    };
    let Location::Postgres(server) = Location::parse(&url)? else {
        eprintln!("skipped: CONDUIT_TEST_DATABASE_URL names no PostgreSQL server");
        return Ok(());
    };
    let database = ScratchDatabase::create(&server).await?;
    let dir = tempfile::tempdir()?;

    // The first admin key, from the command line, on the fresh database.
    let created = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["key", "create", "--name", "admin", "--role", "admin"])
        .env("DATABASE_URL", database.url())
        .env("CONDUIT_SECRET_KEY", SECRET)
        .output()?;
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "conduit key create: {stderr}");
    let created: Value = serde_json::from_slice(&created.stdout)?;
    let admin = created["key"].as_str().context("a key")?;

    // Both at once, on one database.
    let one = spawn(database.url(), &dir.path().join("one"))?;
    let two = spawn(database.url(), &dir.path().join("two"))?;
    let (one, two) = (serving(one)?, serving(two)?);

    // A key made through one replica lets its holder into the other.
    let http = reqwest::Client::new();
    let made: Value = http
        .post(format!("http://{}/v1/keys", one.listen))
        .bearer_auth(admin)
        .json(&json!({ "name": "globex agent", "role": "agent", "customers": ["globex"] }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let agent = made["key"].as_str().context("no key made")?;
    let state = http
        .get(format!("http://{}/v1/customers/globex/plugin", two.listen))
        .bearer_auth(agent)
        .send()
        .await?;
    assert_ne!(state.status(), 401, "the other replica knows the key");
    let listed = http
        .get(format!("http://{}/v1/keys", two.listen))
        .bearer_auth(admin)
        .send()
        .await?
        .text()
        .await?;
    assert!(listed.contains("globex agent"), "{listed}");
    Ok(())
}
