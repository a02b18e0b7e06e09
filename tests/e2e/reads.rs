//! The read side on both simulators: a rep's change made directly in the
//! CRM reaches the feed once, mapped into the agent's fields; the host's own
//! write does not; a deletion arrives as a deletion; 500 records sharing
//! one modification time are each read exactly once.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Map, Value, json};

use conduit_tests::{Harness, results};

const INTEGRATION: &str = "\
entities:
  company:
    salesforce:
      object: Account
      match: Name
      fields:
        name: Name
        sector:
          field: Industry
          values:
            software: Technology
            technology: Technology
            medical: Healthcare
        employees: NumberOfEmployees
    hubspot:
      object: companies
      match: name
      fields:
        name: name
        sector:
          field: industry
          values:
            software: COMPUTER_SOFTWARE
            medical: MEDICAL_DEVICES
        employees: numberofemployees
";

const REP: &str = "rita.rep@initech.example";

/// A host with one Salesforce customer (`sf`) and one HubSpot customer
/// (`hs`), both mapping companies only.
async fn start() -> anyhow::Result<(Harness, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("integration.yaml"), INTEGRATION)?;
    std::fs::create_dir(dir.path().join("customers"))?;
    std::fs::write(
        dir.path().join("customers/sf.yaml"),
        "customer: sf\ncrm: salesforce\n",
    )?;
    std::fs::write(
        dir.path().join("customers/hs.yaml"),
        "customer: hs\ncrm: hubspot\n",
    )?;
    let harness = Harness::start(dir.path()).await?;
    Ok((harness, dir))
}

/// Runs the customer's reads now; the run's report.
pub(crate) async fn run_reads(harness: &Harness, customer: &str) -> anyhow::Result<Value> {
    let path = format!("/v1/customers/{customer}/reads/run");
    let response = harness.request(reqwest::Method::POST, &path).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "reads/run answered {status}: {body}");
    Ok(body)
}

/// Every change in the customer's feed, paged through with `after`.
pub(crate) async fn feed(harness: &Harness, customer: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/customers/{customer}/changes?limit=300");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let page: Value = harness
            .request(reqwest::Method::GET, &path)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let changes = page["changes"].as_array().cloned().unwrap_or_default();
        if changes.is_empty() {
            return Ok(all);
        }
        after = page["next"].as_str().map(str::to_owned);
        all.extend(changes);
    }
}

fn of_record<'a>(changes: &'a [Value], crm_id: &str) -> Vec<&'a Value> {
    changes.iter().filter(|c| c["crm_id"] == crm_id).collect()
}

/// An access token acting as `user` (a Salesforce username or a HubSpot
/// owner's email): what a rep's own session would hold.
async fn rep_token(
    base_url: &str,
    path: &str,
    client: (&str, &str),
    refresh: &str,
) -> anyhow::Result<String> {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.0),
        ("client_secret", client.1),
        ("refresh_token", refresh),
    ];
    let answer: Value = reqwest::Client::new()
        .post(format!("{base_url}{path}"))
        .form(&form)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

/// A Salesforce rep's own access token, the rep added to the org first.
async fn salesforce_rep(harness: &Harness) -> anyhow::Result<String> {
    let sf = &harness.salesforce;
    sf.org.add_user(REP, "Rita", "Rep");
    let client = sf.org.oauth_client();
    let refresh = sf.org.grant_for(&client.client_id, REP)?;
    let secrets = (client.client_id.as_str(), client.client_secret.as_str());
    rep_token(&sf.base_url, "/services/oauth2/token", secrets, &refresh).await
}

/// A rep's request straight to the CRM, as their own user.
async fn as_rep(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<()> {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "the CRM answered {status}: {}",
        response.text().await?
    );
    Ok(())
}

async fn write_company(harness: &Harness, customer: &str, name: &str) -> anyhow::Result<String> {
    let answer = harness
        .write(
            customer,
            json!([{
                "entity": "company", "operation": "upsert", "key": name,
                "fields": { "name": name, "sector": "software", "employees": 40 }
            }]),
        )
        .await?;
    let result = results(&answer).into_iter().next().context("one result")?;
    anyhow::ensure!(result["status"] == "created", "write: {result}");
    result["crm_id"]
        .as_str()
        .map(str::to_owned)
        .context("the created record's id")
}

/// One CRM's side of the story: the rep's token, where the record lives
/// and what the rep changes in it.
struct RepEdit {
    token: String,
    record_url: String,
    edit: Value,
}

/// The host writes a company; reads leave it out. The rep edits it in the
/// CRM; two reads later the feed has the edit once, mapped. The rep
/// deletes it; the feed has the deletion.
async fn a_reps_change_comes_once(
    harness: &Harness,
    customer: &str,
    name: &str,
    edit: impl FnOnce(&str) -> RepEdit,
) -> anyhow::Result<()> {
    let id = write_company(harness, customer, name).await?;
    let report = run_reads(harness, customer).await?;
    let changes = feed(harness, customer).await?;
    assert!(
        of_record(&changes, &id).is_empty(),
        "the host's own write came back: {changes:?}\nrun: {report}"
    );
    assert!(
        report["objects"][0]["suppressed"].as_u64() >= Some(1),
        "{report}"
    );

    let rep = edit(&id);
    let url = rep.record_url.clone();
    as_rep(
        reqwest::Method::PATCH,
        url.clone(),
        &rep.token,
        Some(rep.edit),
    )
    .await?;
    run_reads(harness, customer).await?;
    run_reads(harness, customer).await?;
    let changes = feed(harness, customer).await?;
    let mine = of_record(&changes, &id);
    assert_eq!(mine.len(), 1, "the rep's change, once: {mine:?}");
    let change = mine[0];
    assert_eq!(change["kind"], "upsert");
    assert_eq!(change["entity"], "company");
    assert_eq!(change["record_key"], name);
    assert_eq!(change["fields"]["sector"], "medical", "{change}");
    assert_eq!(change["fields"]["employees"], 55.0, "{change}");
    assert_eq!(change["fields"]["name"], name);

    as_rep(reqwest::Method::DELETE, url, &rep.token, None).await?;
    run_reads(harness, customer).await?;
    let changes = feed(harness, customer).await?;
    let mine = of_record(&changes, &id);
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[1]["kind"], "delete");
    assert_eq!(mine[1]["record_key"], name);
    assert_eq!(mine[1]["fields"], json!({}));
    Ok(())
}

#[tokio::test]
async fn salesforce_a_reps_change_comes_once_the_hosts_write_never_and_a_deletion_as_one()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let sf = &harness.salesforce;
    let token = salesforce_rep(&harness).await?;

    a_reps_change_comes_once(&harness, "sf", "Readable Widgets", |id| RepEdit {
        token,
        record_url: format!("{}/services/data/v60.0/sobjects/Account/{id}", sf.base_url),
        edit: json!({ "Industry": "Healthcare", "NumberOfEmployees": 55 }),
    })
    .await
}

#[tokio::test]
async fn hubspot_a_reps_change_comes_once_the_hosts_write_never_and_a_deletion_as_one()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let hs = &harness.hubspot;
    hs.org.add_owner(REP, "Rita", "Rep");
    let client = hs.org.oauth_client();
    let refresh = hs.org.grant_for(&client.client_id, REP)?;
    let secrets = (client.client_id.as_str(), client.client_secret.as_str());
    let token = rep_token(&hs.base_url, "/oauth/v1/token", secrets, &refresh).await?;

    a_reps_change_comes_once(&harness, "hs", "Readable Gadgets", |id| RepEdit {
        token,
        record_url: format!("{}/crm/v3/objects/companies/{id}", hs.base_url),
        edit: json!({ "properties": { "industry": "MEDICAL_DEVICES", "numberofemployees": 55 } }),
    })
    .await
}

#[tokio::test]
async fn an_unmapped_picklist_value_says_so_and_progress_is_listed() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let mut fields = Map::new();
    fields.insert("Name".into(), json!("Odd Industries"));
    fields.insert("Industry".into(), json!("Energy"));
    let id = harness.salesforce.org.insert("Account", fields);

    run_reads(&harness, "sf").await?;
    let changes = feed(&harness, "sf").await?;
    let mine = of_record(&changes, &id);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["fields"]["sector"], "Energy");
    assert_eq!(mine[0]["notes"][0]["field"], "sector");
    assert_eq!(mine[0]["notes"][0]["reason"], "unmapped");

    let reads: Value = harness
        .request(reqwest::Method::GET, "/v1/customers/sf/reads")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let account = &reads["objects"][0];
    assert_eq!(account["object"], "Account");
    assert_eq!(account["mode"], "incremental", "{reads}");
    assert!(account["records_read"].as_i64() >= Some(1), "{reads}");
    assert!(account["last_run_at"].is_string(), "{reads}");
    assert!(account["last_error"].is_null(), "{reads}");
    Ok(())
}

/// Reads `count` records that all carry one modification time, with the
/// feed paged by `limit`, and checks each came exactly once.
fn exactly_once(changes: &[Value], ids: &[String]) -> Result<(), String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for change in changes {
        if let Some(id) = change["crm_id"].as_str() {
            *seen.entry(id).or_default() += 1;
        }
    }
    let missing = ids
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let twice = ids
        .iter()
        .filter(|id| seen.get(id.as_str()).is_some_and(|n| *n > 1))
        .count();
    if missing == 0 && twice == 0 {
        Ok(())
    } else {
        Err(format!(
            "{missing} records missing, {twice} read more than once"
        ))
    }
}

const SHARED_TIME: &str = "2026-03-01T10:00:00.000Z";

#[tokio::test]
async fn salesforce_500_records_sharing_one_modstamp_are_read_exactly_once() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let org = &harness.salesforce.org;
    let ids: Vec<String> = (0..500)
        .map(|i| {
            let mut fields = Map::new();
            fields.insert("Name".into(), json!(format!("Bulk {i:03}")));
            org.insert("Account", fields)
        })
        .collect();
    assert_eq!(org.set_modstamp("Account", &ids, SHARED_TIME), 500);

    let report = run_reads(&harness, "sf").await?;
    assert_eq!(report["objects"][0]["caught_up"], true, "{report}");
    run_reads(&harness, "sf").await?;
    let changes = feed(&harness, "sf").await?;
    exactly_once(&changes, &ids).map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test]
async fn hubspot_500_records_sharing_one_modification_time_are_read_exactly_once()
-> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let org = &harness.hubspot.org;
    let ids: Vec<String> = (0..500)
        .map(|i| {
            let mut properties = Map::new();
            properties.insert("name".into(), json!(format!("Bulk {i:03}")));
            org.insert("companies", properties)
        })
        .collect();
    assert_eq!(org.set_modified("companies", &ids, SHARED_TIME), 500);

    run_reads(&harness, "hs").await?;
    run_reads(&harness, "hs").await?;
    let changes = feed(&harness, "hs").await?;
    exactly_once(&changes, &ids).map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test]
async fn a_bad_feed_cursor_is_refused_by_name() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let response = harness
        .request(
            reqwest::Method::GET,
            "/v1/customers/sf/changes?after=yesterday",
        )
        .send()
        .await?;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await?;
    assert_eq!(problem["field"], "after", "{problem}");

    // A well-formed cursor the feed never gave out would skip changes.
    let id = write_company(&harness, "sf", "Cursor Cogs").await?;
    let token = salesforce_rep(&harness).await?;
    let url = format!(
        "{}/services/data/v60.0/sobjects/Account/{id}",
        harness.salesforce.base_url
    );
    let edit = json!({ "Industry": "Healthcare" });
    as_rep(reqwest::Method::PATCH, url, &token, Some(edit)).await?;
    run_reads(&harness, "sf").await?;
    let changes = feed(&harness, "sf").await?;
    let given = changes[0]["cursor"]
        .as_str()
        .context("a cursor")?
        .to_owned();
    let ok = harness
        .request(
            reqwest::Method::GET,
            &format!("/v1/customers/sf/changes?after={given}"),
        )
        .send()
        .await?;
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
    for other in ["0000000000000099", "7fffffffffffffff"] {
        let path = format!("/v1/customers/sf/changes?after={other}");
        let response = harness.request(reqwest::Method::GET, &path).send().await?;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::BAD_REQUEST,
            "{other}"
        );
        let problem: Value = response.json().await?;
        assert_eq!(problem["field"], "after", "{problem}");
    }
    // Nor is another customer's cursor this one's.
    let path = format!("/v1/customers/hs/changes?after={given}");
    let response = harness.request(reqwest::Method::GET, &path).send().await?;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    Ok(())
}

/// A backfill from the future would park every cursor past changes that
/// have not happened; a run while another holds the customer's reads is
/// refused, so no two replicas give one change out twice.
#[tokio::test]
async fn a_future_backfill_and_a_second_run_at_once_are_refused() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let path = "/v1/customers/sf/reads/run?backfill=true&since=2999-01-01T00:00:00Z";
    let response = harness.request(reqwest::Method::POST, path).send().await?;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await?;
    assert_eq!(problem["field"], "since", "{problem}");

    let lease = conduit_host::schedule::Lease::claim(
        harness.pipeline.store(),
        conduit_host::sync::TASK,
        "sf",
        "another-replica",
        std::time::Duration::from_secs(60),
        conduit_host::store::Claim::Now,
    )
    .await?;
    anyhow::ensure!(lease.is_some(), "the test holds the lease");
    let path = "/v1/customers/sf/reads/run";
    let response = harness.request(reqwest::Method::POST, path).send().await?;
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let problem: Value = response.json().await?;
    assert_eq!(problem["code"], "reads_running", "{problem}");
    assert_eq!(problem["retryable"], true, "{problem}");
    Ok(())
}

#[tokio::test]
async fn a_customers_plugin_maps_what_is_read_through_map_inbound() -> anyhow::Result<()> {
    // Globex runs HubSpot with its deal-stage plugin.
    let harness = Harness::start(&conduit_tests::examples_dir()).await?;
    let mut properties = Map::new();
    properties.insert("name".into(), json!("Inbound Dealings"));
    properties.insert("industry".into(), json!("MARKETING_AND_ADVERTISING"));
    let id = harness.hubspot.org.insert("companies", properties);

    let report = run_reads(&harness, "globex").await?;
    let companies = report["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["object"] == "companies"))
        .cloned()
        .unwrap_or_default();
    assert!(companies["error"].is_null(), "{report}");
    let changes = feed(&harness, "globex").await?;
    let mine = of_record(&changes, &id);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(mine[0]["error"].is_null(), "{}", mine[0]);
    assert_eq!(mine[0]["fields"]["sector"], "marketing", "{}", mine[0]);

    let metrics = harness
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await?
        .text()
        .await?;
    let inbound_calls = metrics
        .lines()
        .find(|l| l.starts_with("conduit_plugin_calls_total") && l.contains("map-inbound"));
    assert!(inbound_calls.is_some(), "the plugin's hook ran:\n{metrics}");
    Ok(())
}

/// Nobody asks for a run: the host's scheduled `reads` task brings a rep's
/// edit into the feed by itself, and leaves the host's own write out.
#[tokio::test]
async fn the_scheduled_reads_task_fills_the_feed_on_its_own() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let sf = &harness.salesforce;
    let token = salesforce_rep(&harness).await?;
    let id = write_company(&harness, "sf", "Scheduled Sprockets").await?;
    let url = format!("{}/services/data/v60.0/sobjects/Account/{id}", sf.base_url);
    let edit = json!({ "Industry": "Healthcare" });
    as_rep(reqwest::Method::PATCH, url, &token, Some(edit)).await?;

    let pipeline = harness.pipeline.clone();
    let scheduler = conduit_host::schedule::host_tasks(&pipeline)
        .with_tick(std::time::Duration::from_millis(50));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(
        scheduler.run(move || pipeline.scheduled_customers(), async {
            let _ = stopped.await;
        }),
    );

    let mut mine = Vec::new();
    for _ in 0..200 {
        let changes = feed(&harness, "sf").await?;
        mine = of_record(&changes, &id).into_iter().cloned().collect();
        if !mine.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    running.await?;

    assert_eq!(mine.len(), 1, "the rep's edit, once: {mine:?}");
    assert_eq!(mine[0]["fields"]["sector"], "medical", "{mine:?}");
    Ok(())
}
