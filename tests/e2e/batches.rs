//! How the records of one batch, and of batches sent at once, relate: a
//! record may name another record of its batch, and two batches with the
//! same key never create it twice.

use serde_json::{Value, json};

use conduit_tests::{Harness, examples_dir, results, statuses};

const NORTHWIND_REP: &str = "anna.snelling@northwind.example";
const GLOBEX_REP: &str = "anna.snelling@globex.example";

fn company(name: &str) -> Value {
    json!({ "entity": "company", "operation": "upsert", "key": name, "fields": { "name": name } })
}

fn deal(key: &str, rep: &str, account: &str) -> Value {
    json!({
        "entity": "deal",
        "operation": "upsert",
        "key": key,
        "acting_for": rep,
        "fields": { "name": format!("Deal {key}"), "account": account, "stage": "Won",
            "close_date": "2017-01-01" },
    })
}

/// The example customers' host, with Northwind's rep in its org.
async fn northwind() -> anyhow::Result<Harness> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    Ok(harness)
}

#[tokio::test]
async fn a_deal_may_name_a_company_created_in_the_same_batch() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .salesforce
        .org
        .add_user(NORTHWIND_REP, "Anna", "Snelling");
    harness
        .hubspot
        .org
        .add_owner(GLOBEX_REP, "Anna", "Snelling");

    // The deal comes first and names its company by a key in another case.
    let batch = json!([
        deal("SAME1", NORTHWIND_REP, "samebatchco"),
        company("SameBatchCo")
    ]);
    let answer = harness.write("northwind", batch).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(answers[1]["status"], "created", "{answer}");
    let accounts = harness.salesforce.org.records("Account");
    let deals = harness.salesforce.org.records("Opportunity");
    assert_eq!(accounts.len(), 1);
    assert_eq!(deals[0]["AccountId"], accounts[0]["Id"]);

    let batch = json!([
        deal("SAME2", GLOBEX_REP, "SameBatchCo"),
        company("SameBatchCo")
    ]);
    let answer = harness.write("globex", batch).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    let company_id = &results(&answer)[1]["crm_id"];
    let link = json!([{ "object": "companies", "id": company_id }]);
    assert_eq!(
        results(&answer)[0]["associations"],
        link,
        "the answer names the link"
    );
    let companies = harness.hubspot.org.records("companies");
    let deals = harness.hubspot.org.records("deals");
    let linked = deals[0]
        .associations
        .iter()
        .any(|(to, id, _)| to == "companies" && *id == companies[0].id);
    assert!(linked, "{:?}", deals[0].associations);
    Ok(())
}

#[tokio::test]
async fn keys_that_differ_only_in_case_are_one_record() -> anyhow::Result<()> {
    let harness = northwind().await?;
    let batch = json!([
        company("Case Co"),
        company("CASE CO"),
        deal("CASE1", NORTHWIND_REP, "CASE CO")
    ]);
    let answer = harness.write("northwind", batch).await?;
    let answers = results(&answer);
    assert_eq!(answers[0]["status"], "created", "{answer}");
    assert_eq!(
        answers[1]["error"]["code"], "duplicate_in_batch",
        "{answer}"
    );
    assert_eq!(answers[2]["status"], "created", "{answer}");
    let accounts = harness.salesforce.org.records("Account");
    let deals = harness.salesforce.org.records("Opportunity");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(deals[0]["AccountId"], accounts[0]["Id"]);
    Ok(())
}

#[tokio::test]
async fn a_record_naming_itself_fails_alone() -> anyhow::Result<()> {
    let harness = northwind().await?;
    let parented = |name: &str, parent: &str| {
        let mut record = company(name);
        record["fields"]["subsidiary_of"] = json!(parent);
        record
    };
    let answer = harness
        .write("northwind", json!([company("Old Co")]))
        .await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");

    // New or existing, a company naming itself fails; one naming another
    // company of the same request is written.
    let batch = json!([
        parented("Self Co", "self co"),
        parented("Old Co", "Old Co"),
        company("Parent Co"),
        parented("Child Co", "Parent Co")
    ]);
    let answer = harness.write("northwind", batch).await?;
    let answers = results(&answer);
    for refused in &answers[..2] {
        assert_eq!(refused["error"]["code"], "self_reference", "{answer}");
        assert_eq!(refused["error"]["field"], "ParentId", "{answer}");
    }
    assert_eq!(answers[3]["status"], "created", "{answer}");
    let accounts = harness.salesforce.org.records("Account");
    let named = |name: &str| accounts.iter().find(|a| a["Name"] == name).cloned();
    let (parent, child) = (named("Parent Co"), named("Child Co"));
    assert_eq!(
        child.map(|c| c["ParentId"].clone()),
        parent.map(|p| p["Id"].clone())
    );
    assert!(named("Self Co").is_none());
    Ok(())
}

/// Whether the HubSpot deal with `name` is linked to the company `company`.
fn hubspot_deal_linked(harness: &Harness, name: &str, company: &Value) -> bool {
    let deals = harness.hubspot.org.records("deals");
    let deal = deals.iter().find(|d| d.properties["dealname"] == name);
    deal.is_some_and(|d| {
        d.associations
            .iter()
            .any(|(to, id, _)| to == "companies" && Some(id.as_str()) == company.as_str())
    })
}

#[tokio::test]
async fn a_hubspot_deal_that_exists_gets_its_link_to_a_company() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    harness
        .hubspot
        .org
        .add_owner(GLOBEX_REP, "Anna", "Snelling");

    // Two deals exist without a company.
    let mut bare = deal("OLD1", GLOBEX_REP, "");
    bare["fields"].as_object_mut().map(|f| f.remove("account"));
    let mut changed = deal("OLD2", GLOBEX_REP, "");
    changed["fields"]
        .as_object_mut()
        .map(|f| f.remove("account"));
    let answer = harness.write("globex", json!([bare, changed])).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    let answer = harness
        .write("globex", json!([company("Existing Co")]))
        .await?;
    let existing = results(&answer)[0]["crm_id"].clone();

    // One, unchanged but for its company, names a company the request
    // creates; the other changes and names a company that exists.
    let mut moved = deal("OLD2", GLOBEX_REP, "Existing Co");
    moved["fields"]["stage"] = json!("Lost");
    let batch = json!([company("New Co"), deal("OLD1", GLOBEX_REP, "New Co"), moved]);
    let answer = harness.write("globex", batch.clone()).await?;
    let answers = results(&answer);
    assert_eq!(
        statuses(&answer),
        ["created", "updated", "updated"],
        "{answer}"
    );
    let new_co = answers[0]["crm_id"].clone();
    assert!(hubspot_deal_linked(&harness, "Deal OLD1", &new_co));
    assert!(hubspot_deal_linked(&harness, "Deal OLD2", &existing));
    assert_eq!(
        answers[1]["associations"],
        json!([{ "object": "companies", "id": new_co }]),
        "{answer}"
    );

    // Sent again, nothing changes and no link is made twice.
    let again = harness.write("globex", batch).await?;
    assert!(
        results(&again).iter().all(|r| r["status"] == "unchanged"),
        "{again}"
    );
    Ok(())
}

#[tokio::test]
async fn a_dry_run_plans_a_reference_to_a_company_the_batch_would_create() -> anyhow::Result<()> {
    let harness = northwind().await?;
    let batch = json!([
        company("PlannedCo"),
        deal("PLAN1", NORTHWIND_REP, "PlannedCo")
    ]);
    let answer = harness.dry_run("northwind", batch).await?;
    let answers = results(&answer);
    assert!(answers.iter().all(|r| r["status"] == "planned"), "{answer}");
    let account_id = answers[1]["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["field"] == "AccountId"))
        .map(|f| f["value"].clone());
    assert_eq!(account_id, Some(json!("(the record this batch creates)")));
    assert!(harness.salesforce.org.records("Account").is_empty());
    Ok(())
}

#[tokio::test]
async fn batches_sent_at_once_with_the_same_key_create_it_once() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let sends = (0..4).map(|_| harness.write("northwind", json!([company("RaceCo")])));
    let answers = futures::future::join_all(sends).await;

    let mut statuses = Vec::new();
    for answer in answers {
        let answer = answer?;
        statuses.push(
            results(&answer)[0]["status"]
                .as_str()
                .unwrap_or("-")
                .to_owned(),
        );
    }
    statuses.sort();
    assert_eq!(statuses, ["created", "unchanged", "unchanged", "unchanged"]);
    assert_eq!(harness.salesforce.org.records("Account").len(), 1);
    Ok(())
}
