//! Records that name records their batch creates, in Salesforce: a few
//! groups go as Composite Graphs, one call for all; many go in levels of
//! sObject Collections, which then spend fewer calls. Either way a bad
//! record fails alone and the CRM holds each record once.

use conduit_crm_sim::Faults;
use conduit_crm_sim::salesforce::{Condition, ValidationRule};
use serde_json::{Value, json};

use conduit_tests::{Harness, config_with_customers, results, statuses};

const CUSTOMERS: [(&str, &str); 2] = [
    ("plain", "customer: plain\ncrm: salesforce\n"),
    (
        "keyed",
        "customer: keyed\ncrm: salesforce\nentities:\n  company:\n    crm_key: Conduit_Key__c\n  \
         contact:\n    crm_key: Conduit_Key__c\n",
    ),
];

fn company(name: &str) -> Value {
    json!({ "entity": "company", "operation": "upsert", "key": name,
        "idempotency_key": format!("company-{name}"), "fields": { "name": name } })
}

/// The rep the agent acts for: contacts get an owner.
const REP: &str = "rep@graph.example";

fn contact(email: &str, company: &str, title: &str) -> Value {
    json!({ "entity": "contact", "operation": "upsert", "key": email,
        "idempotency_key": format!("contact-{email}"), "acting_for": REP,
        "fields": { "email": email, "last_name": "Ng", "title": title, "company": company } })
}

async fn start() -> anyhow::Result<(Harness, tempfile::TempDir)> {
    let dir = config_with_customers(&CUSTOMERS)?;
    let harness = Harness::start(dir.path()).await?;
    harness.salesforce.org.add_user(REP, "Graph", "Rep");
    // Schema discovered before the calls are counted. Both customers write
    // to the one simulated org.
    for customer in ["plain", "keyed"] {
        let warmup = company(&format!("{customer} Warmup"));
        let answer = harness.write(customer, json!([warmup])).await?;
        assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    }
    Ok((harness, dir))
}

/// The write calls made since the `since`th request, by method and path.
fn writes_since(harness: &Harness, since: usize) -> Vec<String> {
    harness.salesforce.org.requests()[since..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn graph_calls(writes: &[String]) -> usize {
    writes
        .iter()
        .filter(|w| w.ends_with("/composite/graph"))
        .count()
}

/// The Salesforce id of the account named `name`, once there is exactly one.
fn account_id(harness: &Harness, name: &str) -> Option<Value> {
    let accounts = harness.salesforce.org.records("Account");
    let named: Vec<_> = accounts.iter().filter(|a| a["Name"] == name).collect();
    match named.as_slice() {
        [one] => Some(one["Id"].clone()),
        _ => None,
    }
}

fn contacts_of(harness: &Harness, account: &Value) -> Vec<String> {
    let mut emails: Vec<String> = harness
        .salesforce
        .org
        .records("Contact")
        .iter()
        .filter(|c| c["AccountId"] == *account)
        .filter_map(|c| c["Email"].as_str().map(str::to_lowercase))
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn a_company_and_the_contacts_naming_it_go_in_one_graph_call() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    for customer in ["plain", "keyed"] {
        let name = format!("{customer} GraphCo");
        let (a, b) = (format!("a@{customer}.graph"), format!("b@{customer}.graph"));
        let since = harness.salesforce.org.requests().len();
        let batch = json!([
            contact(&a, &name, "CEO"),
            company(&name),
            contact(&b, &name, "CTO")
        ]);
        let answer = harness.write(customer, batch).await?;
        let answers = results(&answer);
        assert!(answers.iter().all(|r| r["status"] == "created"), "{answer}");

        let writes = writes_since(&harness, since);
        assert_eq!(writes.len(), 1, "{customer}: {writes:?}");
        assert_eq!(graph_calls(&writes), 1, "{customer}: {writes:?}");

        let account = account_id(&harness, &name).expect("one account");
        assert_eq!(answers[1]["crm_id"], account);
        assert_eq!(contacts_of(&harness, &account), [a, b]);
        // The answer shows the id the contact was linked to, not a placeholder.
        let linked = answers[0]["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["field"] == "AccountId"))
            .map(|f| f["value"].clone());
        assert_eq!(linked, Some(account), "{answer}");
    }
    let keyed = harness.salesforce.org.records("Account");
    let key = keyed.iter().find(|a| a["Name"] == "keyed GraphCo");
    assert_eq!(
        key.map(|a| a["Conduit_Key__c"].clone()),
        Some(json!("company-keyed GraphCo")),
        "a keyed create is an upsert on its key"
    );
    Ok(())
}

#[tokio::test]
async fn a_record_refused_in_its_graph_fails_alone() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let rule = |object: &str, field: &str, value: &str, name: &str| ValidationRule {
        object: object.into(),
        name: name.into(),
        when: vec![Condition {
            field: field.into(),
            equals: Some(json!(value)),
            not_equals: None,
            is_null: None,
            greater_than: None,
            less_than: None,
        }],
        message: format!("{value} is refused here."),
        error_field: Some(field.into()),
    };
    harness.salesforce.org.set_validation_rules(vec![
        rule("Contact", "Title", "Refused", "No_Refused_Titles"),
        rule("Account", "Name", "Refused Co", "No_Refused_Names"),
    ]);

    let batch = json!([
        company("Mixed Co"),
        contact("ok1@mixed.test", "Mixed Co", "CEO"),
        contact("bad@mixed.test", "Mixed Co", "Refused"),
        contact("ok2@mixed.test", "Mixed Co", "CFO"),
        company("Clean Co"),
        contact("ok@clean.test", "Clean Co", "CEO"),
        company("Refused Co"),
        contact("orphan@refused.test", "Refused Co", "CEO"),
    ]);
    let since = harness.salesforce.org.requests().len();
    let answer = harness.write("plain", batch).await?;
    let answers = results(&answer);
    // The CRM's own code where the CRM refused, conduit's otherwise.
    let codes: Vec<&str> = answers
        .iter()
        .map(|r| {
            let error = &r["error"];
            let code = error["crm"]["code"].as_str().or(error["code"].as_str());
            code.unwrap_or("-")
        })
        .collect();
    assert_eq!(
        codes,
        [
            "-",
            "-",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "-",
            "-",
            "-",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "reference_not_found",
        ],
        "{answer}"
    );
    assert_eq!(answers[2]["error"]["field"], "Title", "{answer}");
    // No answer shows a placeholder: the refused contact names the account
    // written after its graph was undone, the orphan the account that failed.
    assert!(!answer.to_string().contains("@{"), "{answer}");
    let account_of = |r: &Value| {
        let fields = r["fields"].as_array().cloned().unwrap_or_default();
        let field = fields.into_iter().find(|f| f["field"] == "AccountId");
        field.map(|f| f["value"].clone())
    };
    assert_eq!(account_of(&answers[2]), Some(answers[0]["crm_id"].clone()));
    assert_eq!(
        account_of(&answers[7]),
        Some(json!("(the record of this batch that failed)"))
    );
    let orphan = answers[7]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        orphan.contains("was to be created by this batch"),
        "{orphan}"
    );

    // One graph call for the three groups, then the undone records again
    // in levels, without the records that failed.
    let writes = writes_since(&harness, since);
    assert_eq!(graph_calls(&writes), 1, "{writes:?}");
    let mixed = account_id(&harness, "Mixed Co").expect("one Mixed Co");
    assert_eq!(
        contacts_of(&harness, &mixed),
        ["ok1@mixed.test", "ok2@mixed.test"]
    );
    let clean = account_id(&harness, "Clean Co").expect("one Clean Co");
    assert_eq!(contacts_of(&harness, &clean), ["ok@clean.test"]);
    assert_eq!(account_id(&harness, "Refused Co"), None);
    let stored = harness.salesforce.org.records("Contact");
    assert_eq!(stored.len(), 3, "{stored:?}");
    Ok(())
}

#[tokio::test]
async fn many_groups_go_in_levels_of_collections() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let mut batch = Vec::new();
    for i in 0..100 {
        let name = format!("Wide Co {i:03}");
        batch.push(company(&name));
        batch.push(contact(&format!("c{i}@wide.test"), &name, "CEO"));
    }
    let since = harness.salesforce.org.requests().len();
    let answer = harness.write("plain", Value::Array(batch)).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );

    // 100 groups are two graph calls (75 a call) and two Collections calls.
    let writes = writes_since(&harness, since);
    assert_eq!(graph_calls(&writes), 0, "{writes:?}");
    assert_eq!(writes.len(), 2, "{writes:?}");
    let first = account_id(&harness, "Wide Co 042").expect("one account");
    assert_eq!(contacts_of(&harness, &first), ["c42@wide.test"]);
    Ok(())
}

#[tokio::test]
async fn a_value_salesforce_would_read_as_a_reference_is_written_as_sent() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let title = "@{r0.id} & co";
    let batch = json!([
        company("Literal Co"),
        contact("lit@literal.test", "Literal Co", title)
    ]);
    let since = harness.salesforce.org.requests().len();
    let answer = harness.write("plain", batch).await?;
    assert!(
        results(&answer).iter().all(|r| r["status"] == "created"),
        "{answer}"
    );
    assert_eq!(graph_calls(&writes_since(&harness, since)), 0);
    let stored = harness.salesforce.org.records("Contact");
    let written = stored.iter().find(|c| c["Email"] == "lit@literal.test");
    assert_eq!(written.map(|c| c["Title"].clone()), Some(json!(title)));
    Ok(())
}

#[tokio::test]
async fn a_graph_whose_answer_was_lost_leaves_each_record_once() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    for customer in ["keyed", "plain"] {
        let name = format!("{customer} Dropped Co");
        let email = format!("d@{customer}.dropped");
        let batch = json!([company(&name), contact(&email, &name, "CEO")]);
        harness.salesforce.org.set_faults(Faults {
            drop_next: 1,
            ..Faults::default()
        });
        let answer = harness.write(customer, batch.clone()).await?;
        let statuses = statuses(&answer);
        match customer {
            // Every node names its record: the graph was sent again.
            "keyed" => assert_eq!(statuses, ["created", "created"], "{answer}"),
            // Creates are not sent again; the agent's retry finds them by
            // their match keys.
            _ => {
                assert_eq!(statuses, ["failed", "failed"], "{answer}");
                let retry: Vec<Value> = batch
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let mut r = r.clone();
                        r["idempotency_key"] = json!(format!("retry-{}", r["key"]));
                        r
                    })
                    .collect();
                let again = harness.write(customer, Value::Array(retry)).await?;
                let failed = results(&again).iter().any(|r| r["status"] == "failed");
                assert!(!failed, "{again}");
            }
        }
        let account = account_id(&harness, &name).expect("the account once");
        assert_eq!(contacts_of(&harness, &account), [email]);
    }
    Ok(())
}

#[tokio::test]
async fn a_reference_goes_to_the_record_of_the_batch_that_creates_the_key() -> anyhow::Result<()> {
    let (harness, _dir) = start().await?;
    let update = json!({ "entity": "company", "operation": "update", "key": "Twice Co",
        "fields": { "name": "Twice Co" } });
    let batch = json!([
        update,
        company("Twice Co"),
        contact("one@twice.test", "Twice Co", "CEO")
    ]);
    let answer = harness.write("plain", batch).await?;
    assert_eq!(
        statuses(&answer),
        ["failed", "created", "created"],
        "{answer}"
    );
    assert_eq!(results(&answer)[0]["error"]["code"], "not_found");
    let account = account_id(&harness, "Twice Co").expect("one account");
    assert_eq!(contacts_of(&harness, &account), ["one@twice.test"]);
    Ok(())
}
