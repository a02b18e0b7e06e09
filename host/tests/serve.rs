//! `conduit serve` as an operator runs it: JSON logs whose request lines
//! carry the caller's request id, readiness, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Kills the server if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The next log line that is a JSON object, or an error after `wait`.
fn next_json(lines: &mpsc::Receiver<String>, wait: Duration) -> anyhow::Result<Value> {
    let line = lines
        .recv_timeout(wait)
        .context("the server wrote no log line in time")?;
    match serde_json::from_str::<Value>(&line) {
        Ok(value) if value.is_object() => Ok(value),
        _ => bail!("a log line that is not JSON: {line}"),
    }
}

#[tokio::test]
async fn serve_logs_json_with_request_ids_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let child = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(examples())
        .arg("--database")
        .arg(dir.path().join("conduit.db"))
        .env("CONDUIT_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("CONDUIT_SECRET_KEY", "ab".repeat(32))
        .env_remove("CONDUIT_API_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting conduit serve")?;
    let mut server = Server(child);

    // Log lines, read on a thread of their own so the server never blocks.
    let stderr = server.0.stderr.take().context("no stderr")?;
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });

    // 1. The address it listens on, from its first lines.
    let listen = loop {
        let line = next_json(&lines, Duration::from_secs(60))?;
        if line["fields"]["message"] == "conduit serving" {
            break line["fields"]["listen"]
                .as_str()
                .context("no address in the serving line")?
                .to_owned();
        }
    };

    // 2. A request with an id of the caller's, and readiness.
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{listen}/readyz"))
        .header("x-request-id", "serve-probe-7")
        .send()
        .await?;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("serve-probe-7")
    );

    // 3. SIGTERM: the server finishes and exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()?;
    assert!(status.success(), "kill -TERM failed");
    let mut logged = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        logged.push(line);
    }
    let exit = server.0.wait()?;
    assert!(exit.success(), "conduit serve exited with {exit}");

    let lines: Vec<Value> = logged
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["name"] == "request" && l["span"]["request_id"] == "serve-probe-7");
    let answered = answered.with_context(|| format!("no request line in {logged:#?}"))?;
    assert_eq!(answered["span"]["path"], "/readyz");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "conduit stopped"),
        "no clean stop in {logged:#?}"
    );
    Ok(())
}

#[test]
fn serve_refuses_to_start_without_a_secret_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("conduit.db");
    let output = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(examples())
        .arg("--database")
        .arg(&database)
        .env_remove("CONDUIT_SECRET_KEY")
        .output()
        .context("starting conduit serve")?;
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it must not serve: {err}");
    assert!(
        err.contains("no secret key") && err.contains("CONDUIT_SECRET_KEY"),
        "{err}"
    );
    assert!(!database.exists(), "nothing is stored without a key");

    let short = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(&database)
        .env("CONDUIT_SECRET_KEY", "abcd")
        .output()?;
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(!short.status.success());
    assert!(err.contains("64 hex digits"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_database_refuses_a_key_other_than_its_own() -> anyhow::Result<()> {
    use conduit_host::secrets::SecretKey;
    use conduit_host::store::Store;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("conduit.db");
    let first = SecretKey::from_hex(&"ab".repeat(32))?;
    drop(Store::open_sqlite(&path, first.clone()).await?);
    assert!(
        Store::open_sqlite(&path, first).await.is_ok(),
        "its own key opens it"
    );

    let other = SecretKey::from_hex(&"cd".repeat(32))?;
    let refused = Store::open_sqlite(&path, other)
        .await
        .err()
        .context("refused")?;
    assert!(format!("{refused:#}").contains("not the one this database was sealed with"));
    Ok(())
}
