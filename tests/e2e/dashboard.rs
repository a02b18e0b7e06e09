//! The per-customer dashboard in a real browser: headless Chromium loads the
//! page the host serves after a small dataset went through the API, and the
//! figures it shows are checked against the audit the store holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, results};

const CHROMIUM: &str = "/usr/bin/chromium";
const REP: &str = "anna.snelling@northwind.example";

fn company(name: &str, sector: &str) -> Value {
    json!({ "entity": "company", "operation": "upsert", "key": name,
            "fields": { "name": name, "sector": sector, "employees": 2822 } })
}

fn deal(key: &str, rep: &str, fields: Value) -> Value {
    json!({ "entity": "deal", "operation": "upsert", "key": key, "acting_for": rep,
            "fields": fields })
}

/// Two batches with every kind of outcome: created, updated, unchanged and
/// failures with four different codes, and fields skipped for a reason.
async fn write_dataset(harness: &Harness) -> anyhow::Result<()> {
    harness.salesforce.org.add_user(REP, "Anna", "Snelling");
    let first = json!([
        company("Cancity", "technolgy"),
        company("Betasoloin", "medical"),
        deal("GOOD0001", REP, json!({ "name": "GTX Basic for Cancity", "account": "Cancity",
            "stage": "Won", "close_date": "2017-03-01", "amount": 1054 })),
        deal("GOOD0002", REP, json!({ "name": "MG Special", "stage": "Prospecting" })),
        deal("BAD00001", REP, json!({ "name": "Bad stage", "stage": "Negotiating",
            "close_date": "2017-01-01" })),
        deal("BAD00002", REP, json!({ "name": "No such account", "account": "Nobody Inc",
            "stage": "Won", "close_date": "2017-01-01" })),
        deal("BAD00003", "stranger@elsewhere.example", json!({ "name": "Unknown rep",
            "stage": "Won", "close_date": "2017-01-01" })),
        { "entity": "deal", "operation": "delete", "key": "BAD00004" },
    ]);
    harness.write("northwind", first).await?;

    // Again, with a new amount and name: the name is Northwind's to keep.
    let second = json!([
        company("Cancity", "technolgy"),
        deal(
            "GOOD0001",
            REP,
            json!({ "name": "Renamed by the agent", "account": "Cancity",
            "stage": "Won", "close_date": "2017-03-01", "amount": 2000 })
        ),
        deal(
            "BAD00001",
            REP,
            json!({ "name": "Bad stage", "stage": "Negotiating",
            "close_date": "2017-01-01" })
        ),
    ]);
    let answer = harness.write("northwind", second).await?;
    let statuses: Vec<_> = results(&answer)
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    ensure!(
        statuses == [json!("unchanged"), json!("updated"), json!("failed")],
        "{answer}"
    );
    Ok(())
}

/// What the dashboard should show, computed here from the raw audit.
#[derive(Debug, Default)]
struct Expected {
    totals: BTreeMap<String, u64>,
    objects: BTreeMap<(String, String), u64>,
    errors: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    entries: usize,
}

async fn expected_from_store(harness: &Harness) -> anyhow::Result<Expected> {
    let audit: Value = harness
        .request(
            reqwest::Method::GET,
            "/v1/customers/northwind/audit?limit=1000",
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let entries = audit["entries"].as_array().context("no audit entries")?;
    let mut expected = Expected {
        entries: entries.len(),
        ..Default::default()
    };
    for entry in entries {
        let status = entry["status"]
            .as_str()
            .context("an entry without status")?;
        let object = entry["object"]
            .as_str()
            .or(entry["entity"].as_str())
            .context("an entry without object or entity")?;
        *expected.totals.entry(status.to_owned()).or_default() += 1;
        *expected
            .objects
            .entry((object.to_owned(), status.to_owned()))
            .or_default() += 1;
        if let Some(code) = entry["error_code"].as_str() {
            *expected.errors.entry(code.to_owned()).or_default() += 1;
        }
        for decision in entry["decisions"].as_array().into_iter().flatten() {
            if decision["decision"] == "skip" {
                let reason = decision["reason"].as_str().unwrap_or("unknown");
                *expected.skipped.entry(reason.to_owned()).or_default() += 1;
            }
        }
    }
    Ok(expected)
}

/// The page's DOM after its script ran, as headless Chromium prints it.
async fn rendered_dom(url: &str) -> anyhow::Result<String> {
    if !Path::new(CHROMIUM).exists() {
        bail!(
            "{CHROMIUM} is missing: the dashboard test drives headless Chromium. \
             Install it with `apt-get install -y chromium` (`.ci/run` does)"
        );
    }
    let profile = tempfile::tempdir()?;
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=10000", "--dump-dom", url])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("chromium did not finish within 90 s")?
    .context("running chromium")?;
    ensure!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// The start tag of the first element carrying `marker` (e.g. `id="x"`).
fn start_tag<'a>(dom: &'a str, marker: &str) -> anyhow::Result<&'a str> {
    let at = dom
        .find(marker)
        .with_context(|| format!("no element with {marker}"))?;
    let open = dom[..at].rfind('<').context("no start tag")?;
    let close = at + dom[at..].find('>').context("unterminated tag")?;
    Ok(&dom[open..=close])
}

/// The value of `name` in a start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> anyhow::Result<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .with_context(|| format!("no {name} in {tag}"))?;
    let rest = &tag[at + key.len()..];
    Ok(&rest[..rest.find('"').context("unterminated attribute")?])
}

/// The text from the element carrying `marker` up to the end of its row.
fn row<'a>(dom: &'a str, marker: &str) -> anyhow::Result<&'a str> {
    let at = dom
        .find(marker)
        .with_context(|| format!("no row with {marker}"))?;
    let end = at + dom[at..].find("</tr>").context("unterminated row")?;
    Ok(&dom[at..end])
}

/// The text right after the start tag of the element carrying `marker`.
fn text<'a>(dom: &'a str, marker: &str) -> anyhow::Result<&'a str> {
    let tag = start_tag(dom, marker)?;
    let at = dom.find(tag).context("tag not in the page")? + tag.len();
    Ok(&dom[at..at + dom[at..].find('<').context("unterminated text")?])
}

fn number(dom: &str, id: &str) -> anyhow::Result<u64> {
    let tag = start_tag(dom, &format!("id=\"{id}\""))?;
    let value = attribute(tag, "data-value")?;
    value
        .parse()
        .with_context(|| format!("#{id} shows `{value}`"))
}

fn count_in_row(row: &str, marker: &str) -> anyhow::Result<u64> {
    let tag = start_tag(row, marker)?;
    Ok(attribute(tag, "data-value")?.parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_store_holds() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    write_dataset(&harness).await?;
    let expected = expected_from_store(&harness).await?;

    let url = format!(
        "{}/customers/northwind/dashboard#key={}",
        harness.base, harness.api_key
    );
    let dom = rendered_dom(&url).await?;
    let body = start_tag(&dom, "<body")?;
    ensure!(
        attribute(body, "data-state")? == "ready",
        "the page did not finish: {dom}"
    );

    // The totals and the success rate.
    let total = |status: &str| expected.totals.get(status).copied().unwrap_or(0);
    let records: u64 = expected.totals.values().sum();
    assert_eq!(number(&dom, "total-records")?, records);
    for status in ["created", "updated", "unchanged", "failed"] {
        assert_eq!(
            number(&dom, &format!("total-{status}"))?,
            total(status),
            "{status}"
        );
    }
    let rate: f64 = attribute(start_tag(&dom, "id=\"success-rate\"")?, "data-value")?.parse()?;
    let judged = (records - total("planned")) as f64;
    assert!(
        (rate - (judged - total("failed") as f64) / judged).abs() < 1e-9,
        "{rate}"
    );
    assert!(
        total("failed") >= 4 && total("created") >= 4,
        "{expected:?}"
    );

    // Counts per object and outcome.
    for ((object, status), count) in &expected.objects {
        let row = row(&dom, &format!("<tr data-object=\"{object}\""))?;
        let shown = count_in_row(row, &format!("data-status=\"{status}\""))?;
        assert_eq!(shown, *count, "{object} {status}");
    }

    // Errors by code, each with its latest message.
    assert!(expected.errors.len() >= 3, "{:?}", expected.errors);
    for (code, count) in &expected.errors {
        let row = row(&dom, &format!("<tr data-code=\"{code}\""))?;
        assert_eq!(
            count_in_row(row, "class=\"number count\"")?,
            *count,
            "{code}"
        );
        let messages: Vec<&str> = row.split("<li>").skip(1).collect();
        assert!(!messages.is_empty() && messages.len() <= 3, "{code}: {row}");
        let distinct: std::collections::BTreeSet<_> = messages.iter().collect();
        assert_eq!(
            distinct.len(),
            messages.len(),
            "repeated messages for {code}"
        );
    }

    // Fields skipped by reason: Northwind keeps its deal names on update.
    assert!(expected.skipped.contains_key("policy_skip"), "{expected:?}");
    for (reason, count) in &expected.skipped {
        let row = row(&dom, &format!("<tr data-reason=\"{reason}\""))?;
        assert_eq!(
            count_in_row(row, "class=\"number count\"")?,
            *count,
            "{reason}"
        );
    }

    // The recent writes with their decisions, and the charts drawn.
    let shown_writes = dom.matches("<tr class=\"write\"").count();
    assert_eq!(shown_writes, expected.entries.min(25));
    assert!(dom.contains("data-decision=\"skip\" data-reason=\"policy_skip\""));
    let bars = dom.matches("<rect class=\"succeeded\"").count();
    assert!(bars >= 1, "no bar in the writes-over-time chart");

    // The connection and the versions in force.
    let connection = start_tag(&dom, "id=\"connection\"")?;
    assert_eq!(attribute(connection, "data-status")?, "active");
    let latest = expected_latest_version(&harness).await?;
    assert_eq!(text(&dom, "id=\"config-version\"")?, latest);
    Ok(())
}

async fn expected_latest_version(harness: &Harness) -> anyhow::Result<String> {
    let audit: Value = harness
        .request(
            reqwest::Method::GET,
            "/v1/customers/northwind/audit?limit=1",
        )
        .send()
        .await?
        .json()
        .await?;
    audit["entries"][0]["config_version"]
        .as_str()
        .map(str::to_owned)
        .context("no config version in the audit")
}

#[tokio::test]
async fn the_dashboard_asks_for_the_key_it_was_not_given() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let dom = rendered_dom(&format!("{}/customers/northwind/dashboard", harness.base)).await?;
    let body = start_tag(&dom, "<body")?;
    assert_eq!(attribute(body, "data-state")?, "needs-key", "{dom}");
    assert!(!start_tag(&dom, "id=\"key-form\"")?.contains(" hidden"));
    Ok(())
}
