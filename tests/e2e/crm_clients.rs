//! The CRM clients against the simulators, below the pipeline: what they do
//! when the CRM refuses a whole batch for one record in it.

use std::sync::Arc;

use conduit_crm_sim::salesforce;
use conduit_host::auth::{Connection, Credentials, Identity};
use conduit_host::config::Provider;
use conduit_host::crm::{Crm, NewRecord};
use conduit_host::record::{Fields, Value};
use conduit_host::secrets::SecretKey;
use conduit_host::store::Grant;
use conduit_tests::TestState;

fn account(name: &str, employees: f64) -> NewRecord {
    let fields: Fields = [
        ("Name".to_owned(), Value::Text(name.to_owned())),
        ("NumberOfEmployees".to_owned(), Value::Number(employees)),
    ]
    .into();
    NewRecord {
        fields,
        associations: Vec::new(),
    }
}

#[tokio::test]
async fn a_collection_refused_for_one_record_is_split_until_that_record_fails_alone()
-> anyhow::Result<()> {
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let oauth = sim.org.oauth_client();
    let state = TestState::new().await?;
    let store = state.open_store(SecretKey::ephemeral()).await?;
    let credentials = Credentials {
        base_url: sim.base_url.clone(),
        client_id: oauth.client_id,
        client_secret: oauth.client_secret,
        refresh_token: oauth.refresh_token,
        jwt_key: None,
    };
    store
        .put_grant(&Grant::org("acme", "salesforce", credentials))
        .await?;
    let http = reqwest::Client::new();
    let connection = Connection::stored(
        "acme",
        Identity::Org,
        Provider::Salesforce,
        store,
        http.clone(),
    );
    let crm = Crm::new(Provider::Salesforce, http, Arc::new(connection));
    let schema = crm.describe("Account").await?;

    // Salesforce cannot parse a fraction for an integer field, and says so
    // for the whole request: the client must pin it on the fifth record.
    let records: Vec<NewRecord> = (0..8)
        .map(|i| account(&format!("A{i}"), if i == 5 { 12.5 } else { 12.0 }))
        .collect();
    let answers = crm.create_many("Account", &schema, records).await;

    let failed: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].is_err())
        .collect();
    assert_eq!(failed, [5], "{answers:?}");
    let refusal = answers[5].as_ref().err().map(|e| e.code.as_str());
    assert_eq!(refusal, Some("JSON_PARSER_ERROR"));
    let mut stored: Vec<String> = sim
        .org
        .records("Account")
        .iter()
        .filter_map(|r| r.get("Name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect();
    stored.sort();
    assert_eq!(stored, ["A0", "A1", "A2", "A3", "A4", "A6", "A7"]);
    sim.shutdown().await;
    Ok(())
}
