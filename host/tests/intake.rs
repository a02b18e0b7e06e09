//! Durable intake across processes: `conduit serve` killed with SIGKILL in
//! the middle of a job and started again on the same database finishes the
//! job, with one outcome per intent and each record once in the CRM; and two
//! `conduit serve` on one PostgreSQL database share a job, each intent run
//! by one of them.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_crm_sim::{Faults, Sim, salesforce};

const REP: &str = "anna.snelling@northwind.example";
const SECRET_KEY: &str = "5e";
const RECORDS: usize = 1000;

/// A `conduit serve` child process, killed when dropped.
struct Host {
    child: Child,
    base: String,
    http: reqwest::Client,
    /// Its log lines, as JSON.
    lines: mpsc::Receiver<Value>,
}

impl Host {
    /// Starts `conduit serve` on the SQLite file `database`.
    fn start(database: &Path) -> anyhow::Result<Self> {
        Self::start_with(&[OsStr::new("--database"), database.as_os_str()])
    }

    /// Starts `conduit serve` with `database_args` and a two-second lease,
    /// and waits until it listens.
    fn start_with(database_args: &[&OsStr]) -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_conduit"))
            .args(["serve", "--listen", "127.0.0.1:0", "--lease-seconds", "2"])
            .arg("--config")
            .arg(examples())
            .args(database_args)
            .env("CONDUIT_LOG_FORMAT", "json")
            .env("CONDUIT_SECRET_KEY", SECRET_KEY.repeat(32))
            .env_remove("CONDUIT_API_KEY")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("starting conduit serve")?;

        // Log lines are read on a thread of their own, so the host never
        // blocks on a full pipe.
        let stderr = child.stderr.take().context("no stderr")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(line) = serde_json::from_str::<Value>(&line) {
                    let _ = send.send(line);
                }
            }
        });
        let listen = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(120))
                .context("conduit serve did not start")?;
            if line["fields"]["message"] == "conduit serving" {
                break line["fields"]["listen"]
                    .as_str()
                    .context("no address in the serving line")?
                    .to_owned();
            }
        };
        Ok(Host {
            child,
            base: format!("http://{listen}"),
            http: reqwest::Client::new(),
            lines,
        })
    }

    /// How many intents this host has claimed to run so far, by its log,
    /// and its warnings.
    fn claimed(&self) -> (u64, Vec<Value>) {
        let lines: Vec<Value> = self.lines.try_iter().collect();
        let claimed = lines
            .iter()
            .filter(|line| line["fields"]["message"] == "intents claimed")
            .filter_map(|line| line["fields"]["records"].as_u64())
            .sum();
        let warnings = lines
            .into_iter()
            .filter(|line| matches!(line["level"].as_str(), Some("WARN" | "ERROR")))
            .collect();
        (claimed, warnings)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "{path} answered {status}: {text}");
        if status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// SIGKILL: no graceful stop, whatever the host was doing.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing conduit serve")?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Record `n` of the job: a company, then a contact at it. A batch of the
/// worker holds both, and writes the companies before the contacts that
/// refer to them: in between, the CRM holds writes whose outcomes the host
/// has not stored yet.
fn record(n: usize) -> Value {
    let company = format!("Resume Co {}", n / 2);
    if n.is_multiple_of(2) {
        return json!({
            "entity": "company", "operation": "upsert", "key": company,
            "idempotency_key": format!("resume-{n}"), "fields": { "name": company },
        });
    }
    let email = format!("resume{}@initrode.example", n / 2);
    json!({
        "entity": "contact", "operation": "upsert", "key": email, "acting_for": REP,
        "idempotency_key": format!("resume-{n}"),
        "fields": { "email": email, "last_name": format!("Number {n}"), "company": company },
    })
}

/// How many records of the job the CRM holds.
fn in_crm(sim: &Sim<salesforce::Org>) -> usize {
    sim.org.records("Account").len() + sim.org.records("Contact").len()
}

/// The distinct values of `field` of the CRM's `object` records, and how
/// many records there are.
fn distinct(sim: &Sim<salesforce::Org>, object: &str, field: &str) -> (usize, usize) {
    let stored = sim.org.records(object);
    let mut values: Vec<&str> = stored.iter().filter_map(|r| r[field].as_str()).collect();
    values.sort_unstable();
    values.dedup();
    (values.len(), stored.len())
}

async fn connect(host: &Host, sim: &Sim<salesforce::Org>) -> anyhow::Result<()> {
    let oauth = sim.org.oauth_client();
    let body = json!({
        "base_url": sim.base_url, "client_id": oauth.client_id,
        "client_secret": oauth.client_secret, "refresh_token": oauth.refresh_token,
    });
    host.call(
        Method::PUT,
        "/v1/customers/northwind/connection",
        Some(body),
    )
    .await?;
    Ok(())
}

/// A job of [`RECORDS`] records submitted to `host`, the CRM answering
/// each call `latency_ms` late so that the job is still running when the
/// test acts; the job's id.
async fn slow_job(
    host: &Host,
    sim: &Sim<salesforce::Org>,
    latency_ms: u64,
) -> anyhow::Result<String> {
    sim.org.set_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
    let records: Vec<Value> = (0..RECORDS).map(record).collect();
    let body = json!({ "records": records });
    let submitted = host
        .call(Method::POST, "/v1/customers/northwind/jobs", Some(body))
        .await?;
    Ok(submitted["id"].as_str().context("no job id")?.to_owned())
}

async fn job(host: &Host, id: &str) -> anyhow::Result<Value> {
    host.call(
        Method::GET,
        &format!("/v1/customers/northwind/jobs/{id}"),
        None,
    )
    .await
}

/// Every result of job `id`, a page at a time.
async fn listed(host: &Host, id: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut path = format!("/v1/customers/northwind/jobs/{id}/results?limit=500");
    loop {
        let page = host.call(Method::GET, &path, None).await?;
        all.extend(page["results"].as_array().cloned().unwrap_or_default());
        let Some(after) = page["next_after"].as_i64() else {
            return Ok(all);
        };
        path = format!("/v1/customers/northwind/jobs/{id}/results?limit=500&after={after}");
    }
}

#[tokio::test]
async fn a_host_killed_mid_job_resumes_it_after_a_restart() -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = salesforce::serve(salesforce::Profile::default(), loopback).await?;
    sim.org.add_user(REP, "Anna", "Snelling");
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("conduit.db");

    // 1. A job of a thousand records on a slow CRM.
    let host = Host::start(&database)?;
    connect(&host, &sim).await?;
    let id = slow_job(&host, &sim, 150).await?;

    // 2. Killed in the middle of a batch: some outcomes stored, and the CRM
    //    holding writes of the batch running, whose outcomes are not.
    let mut seen = Value::Null;
    for _ in 0..3000 {
        seen = job(&host, &id).await?;
        let done = seen["counts"]["done"].as_u64().unwrap_or_default() as usize;
        if done > 0 && in_crm(&sim) > done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host.kill()?;
    let done_at_kill = seen["counts"]["done"].as_u64().unwrap_or_default() as usize;
    let written_at_kill = in_crm(&sim);
    ensure!(
        done_at_kill > 0 && written_at_kill > done_at_kill && written_at_kill < RECORDS,
        "not killed mid-batch: {written_at_kill} in the CRM at {seen}"
    );

    // 3. Started again on the same database, it finishes the job.
    let host = Host::start(&database)?;
    let mut finished = Value::Null;
    for _ in 0..1200 {
        finished = job(&host, &id).await?;
        if finished["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if finished["state"] != "done" {
        bail!("the job did not finish after the restart: {finished}");
    }
    assert_eq!(
        finished["counts"],
        json!({ "total": RECORDS, "done": RECORDS, "failed": 0, "pending": 0 }),
        "killed at {seen}"
    );

    // 4. One outcome per intent, and each record once in the CRM.
    let results = listed(&host, &id).await?;
    let indexes: Vec<i64> = results.iter().filter_map(|r| r["index"].as_i64()).collect();
    assert_eq!(indexes, (0..RECORDS as i64).collect::<Vec<_>>());
    for result in &results {
        let status = result["status"].as_str().unwrap_or_default();
        assert!(
            matches!(status, "created" | "updated" | "unchanged"),
            "{result}"
        );
    }
    let half = RECORDS / 2;
    assert_eq!(
        distinct(&sim, "Account", "Name"),
        (half, half),
        "each company once"
    );
    assert_eq!(
        distinct(&sim, "Contact", "Email"),
        (half, half),
        "each contact once"
    );

    let outcome = host
        .call(
            Method::GET,
            "/v1/customers/northwind/writes/resume-999",
            None,
        )
        .await?;
    assert_eq!(outcome["state"], "done", "{outcome}");
    Ok(())
}

/// The PostgreSQL server of `CONDUIT_TEST_DATABASE_URL`, when it names one.
fn postgres_server() -> Option<String> {
    std::env::var("CONDUIT_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

#[tokio::test]
async fn two_hosts_on_one_postgres_database_share_a_job_and_run_each_intent_once()
-> anyhow::Result<()> {
    let Some(server) = postgres_server() else {
        eprintln!("CONDUIT_TEST_DATABASE_URL names no PostgreSQL server: not run");
        return Ok(());
    };
    let database = conduit_host::store::scratch::ScratchDatabase::create(&server).await?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = salesforce::serve(salesforce::Profile::default(), loopback).await?;
    sim.org.add_user(REP, "Anna", "Snelling");

    let url = OsStr::new(database.url());
    let first = Host::start_with(&[OsStr::new("--database-url"), url])?;
    let second = Host::start_with(&[OsStr::new("--database-url"), url])?;
    connect(&first, &sim).await?;

    let id = slow_job(&first, &sim, 100).await?;

    let mut finished = Value::Null;
    for _ in 0..1200 {
        finished = job(&second, &id).await?;
        if finished["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        finished["counts"],
        json!({ "total": RECORDS, "done": RECORDS, "failed": 0, "pending": 0 }),
        "{finished}"
    );

    // Each intent claimed by one host, both hosts taking part.
    let ((by_first, warned_first), (by_second, warned_second)) =
        (first.claimed(), second.claimed());
    assert!(
        by_first > 0 && by_second > 0,
        "{by_first} and {by_second}: {warned_first:?} {warned_second:?}"
    );
    assert_eq!(by_first + by_second, RECORDS as u64, "an intent ran twice");
    let results = listed(&first, &id).await?;
    let indexes: Vec<i64> = results.iter().filter_map(|r| r["index"].as_i64()).collect();
    assert_eq!(indexes, (0..RECORDS as i64).collect::<Vec<_>>());
    let half = RECORDS / 2;
    assert_eq!(
        distinct(&sim, "Account", "Name"),
        (half, half),
        "each company once"
    );
    assert_eq!(
        distinct(&sim, "Contact", "Email"),
        (half, half),
        "each contact once"
    );
    Ok(())
}
