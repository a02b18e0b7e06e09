//! API calls per 1,000 upserts against the minimum the CRM allows, and
//! records per second, with zero-latency simulators.
//!
//! Run with `cargo bench -p conduit-tests --bench transport`. Each customer
//! first holds 500 of the 1,000 companies; one request then upserts all
//! 1,000 (500 updates, 500 creates). The minimum is what the CRM's batch
//! sizes allow for the same work: the matching reads (SOQL `IN` lists of
//! 100 values, HubSpot batch reads of 100) plus one write call per 200
//! records (Salesforce Collections) or 100 (HubSpot batch endpoints), for
//! creates and updates apart.
//!
//! Then 1,000 new records that name records of their own request: 500
//! companies with a contact each, sent as 20 requests of 25 pairs and as one
//! request of 500. The minimum adds the contacts' matching reads and, for
//! the writes, the fewer of Composite Graph calls (75 graphs a call, one
//! pair a graph; Salesforce only) and levels of batch calls (companies,
//! then contacts).
//!
//! HubSpot's records per second are what its search limit allows: neither
//! a company's name nor a contact's email is a unique property there, so
//! the matching reads are searches, which the host paces at HubSpot's five
//! a second (the 40 searches of 20 requests take about 8 s).

use std::time::Instant;

use serde_json::{Value, json};

use conduit_tests::{Harness, config_with_customers, results};

const RECORDS: usize = 1_000;
/// The rep new contacts are owned by.
const REP: &str = "rep@bench.example";
const EXISTING: usize = 500;

const CUSTOMERS: [(&str, &str, usize, usize); 4] = [
    // (customer, config, write batch size, read batch size)
    ("sfplain", "customer: sfplain\ncrm: salesforce\n", 200, 100),
    (
        "sfkeyed",
        "customer: sfkeyed\ncrm: salesforce\nentities:\n  company:\n    crm_key: Conduit_Key__c\n",
        200,
        100,
    ),
    ("hsplain", "customer: hsplain\ncrm: hubspot\n", 100, 100),
    (
        "hskeyed",
        "customer: hskeyed\ncrm: hubspot\nentities:\n  company:\n    crm_key: conduit_key\n",
        100,
        100,
    ),
];

/// Upserts of companies `range`; with `employees`, a field the seeded
/// records lack, so that an update fills it.
fn upserts(customer: &str, range: std::ops::Range<usize>, employees: Option<u32>) -> Value {
    let records: Vec<Value> = range
        .map(|i| {
            let mut fields = json!({ "name": format!("{customer}-{i:04}") });
            if let Some(employees) = employees {
                fields["employees"] = employees.into();
            }
            json!({
                "entity": "company",
                "operation": "upsert",
                "key": format!("{customer}-{i:04}"),
                "idempotency_key": format!("{customer}-{employees:?}-{i}"),
                "fields": fields,
            })
        })
        .collect();
    Value::Array(records)
}

fn calls(harness: &Harness, customer: &str) -> u64 {
    if customer.starts_with("sf") {
        harness.salesforce.org.request_count()
    } else {
        harness.hubspot.org.request_count()
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let configs: Vec<(&str, &str)> = CUSTOMERS.iter().map(|(c, y, _, _)| (*c, *y)).collect();
    let dir = config_with_customers(&configs)?;
    let harness = Harness::start(dir.path()).await?;
    harness.salesforce.org.add_user(REP, "Bench", "Rep");
    harness.hubspot.org.add_owner(REP, "Bench", "Rep");

    println!("transport: {RECORDS} upserts ({EXISTING} updates, the rest creates) in one request");
    for (customer, _, write_batch, read_batch) in CUSTOMERS {
        // Setup: schema discovered and half the records already there.
        let seeded = harness
            .write(customer, upserts(customer, 0..EXISTING, None))
            .await?;
        let failed = results(&seeded)
            .iter()
            .filter(|r| r["status"] == "failed")
            .count();
        anyhow::ensure!(failed == 0, "{customer}: seeding failed: {seeded}");

        let before = calls(&harness, customer);
        let started = Instant::now();
        let answer = harness
            .write(customer, upserts(customer, 0..RECORDS, Some(20)))
            .await?;
        let elapsed = started.elapsed().as_secs_f64();
        let made = calls(&harness, customer) - before;

        let answers = results(&answer);
        let count = |status: &str| answers.iter().filter(|r| r["status"] == status).count();
        let (created, updated) = (count("created"), count("updated"));
        anyhow::ensure!(
            created == RECORDS - EXISTING && updated == EXISTING,
            "{customer}: {created} created, {updated} updated"
        );

        let reads = RECORDS.div_ceil(read_batch);
        let writes = (RECORDS - EXISTING).div_ceil(write_batch) + EXISTING.div_ceil(write_batch);
        println!(
            "  {customer:<8} {made:>3} API calls (minimum {:>2}: {reads} reads + {writes} \
             writes), {:>6.0} records/s",
            reads + writes,
            RECORDS as f64 / elapsed.max(f64::EPSILON),
        );
    }

    println!("transport: {RECORDS} creates, 500 companies each named by a new contact");
    for (customer, _, write_batch, read_batch) in CUSTOMERS {
        for requests in [20, 1] {
            dependents(&harness, customer, requests, write_batch, read_batch).await?;
        }
    }
    Ok(())
}

/// A company and a contact naming it, both new, for pair `i`.
fn pair(customer: &str, requests: usize, i: usize) -> [Value; 2] {
    let name = format!("{customer}-pair{requests}-{i:04}");
    [
        json!({ "entity": "company", "operation": "upsert", "key": name,
            "fields": { "name": name } }),
        json!({ "entity": "contact", "operation": "upsert", "acting_for": REP,
            "key": format!("{i}@{customer}-pair{requests}.test"),
            "fields": { "email": format!("{i}@{customer}-pair{requests}.test"),
                "last_name": "Pair", "company": name } }),
    ]
}

/// Sends the 500 pairs as `requests` requests and reports the calls made
/// against the minimum.
async fn dependents(
    harness: &Harness,
    customer: &str,
    requests: usize,
    write_batch: usize,
    read_batch: usize,
) -> anyhow::Result<()> {
    let pairs = (RECORDS / 2) / requests;
    // The rep's owner id is looked up once and cached: not counted.
    let warmup = harness
        .write(
            customer,
            Value::Array(pair(customer, requests, RECORDS).into()),
        )
        .await?;
    anyhow::ensure!(
        results(&warmup).iter().all(|r| r["status"] == "created"),
        "{customer}: {warmup}"
    );
    let before = calls(harness, customer);
    let started = Instant::now();
    for request in 0..requests {
        let records: Vec<Value> = (request * pairs..(request + 1) * pairs)
            .flat_map(|i| pair(customer, requests, i))
            .collect();
        let answer = harness.write(customer, Value::Array(records)).await?;
        let created = results(&answer)
            .iter()
            .filter(|r| r["status"] == "created")
            .count();
        anyhow::ensure!(created == 2 * pairs, "{customer}: {answer}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let made = calls(harness, customer) - before;

    let reads = 2 * pairs.div_ceil(read_batch);
    let levels = 2 * pairs.div_ceil(write_batch);
    let writes = if customer.starts_with("sf") {
        levels.min(pairs.div_ceil(75))
    } else {
        levels
    };
    let minimum = requests * (reads + writes);
    println!(
        "  {customer:<8} {requests:>2} x {:>3} pairs: {made:>3} API calls (minimum {minimum:>3}: \
         {} reads + {} writes), {:>6.0} records/s",
        pairs,
        requests * reads,
        requests * writes,
        RECORDS as f64 / elapsed.max(f64::EPSILON),
    );
    Ok(())
}
