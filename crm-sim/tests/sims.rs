//! End-to-end checks of both simulators over HTTP.

use conduit_crm_sim::{hubspot, salesforce};
use serde_json::{Value, json};

#[tokio::test]
async fn salesforce_token_create_query_and_errors() -> anyhow::Result<()> {
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::new();
    let c = sim.org.oauth_client();
    let bad = http
        .post(format!("{}/services/oauth2/token", sim.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "x"),
            ("client_secret", "y"),
            ("refresh_token", "z"),
        ])
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await?,
        json!({"error": "invalid_grant", "error_description": "authentication failure"})
    );
    let token: Value = http
        .post(format!("{}/services/oauth2/token", sim.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(token["instance_url"], json!(sim.base_url));
    let data = format!("{}/services/data/v60.0", sim.base_url);

    let unauth = http.get(format!("{data}/sobjects")).send().await?;
    assert_eq!(unauth.status(), 401);
    assert_eq!(
        unauth.json::<Value>().await?,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );

    let created = http
        .post(format!("{data}/sobjects/Account"))
        .bearer_auth(&bearer)
        .json(&json!({"Name": "Acme", "External_Id__c": "A1"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    assert!(created.headers().contains_key("Sforce-Limit-Info"));
    let id = created.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("001"));

    let missing = http
        .post(format!("{data}/sobjects/Opportunity"))
        .bearer_auth(&bearer)
        .json(&json!({"Name": "Deal"}))
        .send()
        .await?;
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await?;
    assert_eq!(body[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(
        body[0]["message"],
        "Required fields are missing: [StageName, CloseDate]"
    );

    let describe: Value = http
        .get(format!("{data}/sobjects/Opportunity/describe"))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    let product = describe["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "Product__c").cloned())
        .unwrap_or_default();
    assert_eq!(product["restrictedPicklist"], true);
    assert_eq!(product["picklistValues"].as_array().map(Vec::len), Some(7));

    for i in 0..2001 {
        sim.org.insert(
            "Contact",
            json!({"LastName": format!("L{i}")})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
    }
    let page: Value = http
        .get(format!("{data}/query"))
        .query(&[(
            "q",
            "SELECT Id, LastName FROM Contact WHERE LastName != 'x' ORDER BY LastName",
        )])
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(page["totalSize"], 2001);
    assert_eq!(page["done"], false);
    let next = page["nextRecordsUrl"].as_str().unwrap_or_default();
    let last: Value = http
        .get(format!("{}{next}", sim.base_url))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(last["done"], true);
    assert_eq!(last["records"].as_array().map(Vec::len), Some(1));

    let coll: Value = http
        .post(format!("{data}/composite/sobjects"))
        .bearer_auth(&bearer)
        .json(&json!({"allOrNone": false, "records": [
            {"attributes": {"type": "Account"}, "Name": "B"},
            {"attributes": {"type": "Account"}, "Name": "C", "External_Id__c": "A1"},
        ]}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(coll[0]["success"], true);
    assert_eq!(coll[1]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn hubspot_token_create_validate_and_search() -> anyhow::Result<()> {
    let sim = hubspot::serve(hubspot::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::new();
    let c = sim.org.oauth_client();
    let token: Value = http
        .post(format!("{}/oauth/v1/token", sim.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(token["expires_in"], 1800);
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let base = format!("{}/crm/v3/objects", sim.base_url);

    let company: Value = http
        .post(format!("{base}/companies"))
        .bearer_auth(&bearer)
        .json(&json!({"properties": {"name": "Acme", "external_id": "C1"}}))
        .send()
        .await?
        .json()
        .await?;
    let company_id = company["id"].as_str().unwrap_or_default().to_owned();
    let to_company = json!([{
        "to": {"id": company_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]
    }]);
    let deal = http
        .post(format!("{base}/deals"))
        .bearer_auth(&bearer)
        .json(&json!({
            "properties": {"dealname": "D", "amount": 10},
            "associations": to_company
        }))
        .send()
        .await?;
    assert_eq!(deal.status(), 201);
    let deal: Value = deal.json().await?;
    assert_eq!(deal["properties"]["amount"], "10");

    let bad = http
        .post(format!("{base}/deals"))
        .bearer_auth(&bearer)
        .json(&json!({"properties": {"nope": "x", "dealstage": "nope"}}))
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await?;
    assert_eq!(bad["category"], "VALIDATION_ERROR");
    assert_eq!(bad["errors"][0]["code"], "INVALID_OPTION");
    assert_eq!(bad["errors"][1]["code"], "PROPERTY_DOESNT_EXIST");

    let dup = http
        .post(format!("{base}/companies"))
        .bearer_auth(&bearer)
        .json(&json!({"properties": {"external_id": "C1"}}))
        .send()
        .await?;
    assert_eq!(dup.status(), 409);

    let read = http
        .post(format!("{base}/companies/batch/read"))
        .bearer_auth(&bearer)
        .json(&json!({
            "properties": ["name"],
            "idProperty": "external_id",
            "inputs": [{"id": "C1"}, {"id": "C9"}]
        }))
        .send()
        .await?;
    assert_eq!(read.status(), 207);
    let read: Value = read.json().await?;
    assert_eq!(read["results"][0]["properties"]["name"], "Acme");
    assert_eq!(read["errors"][0]["context"]["ids"], json!(["C9"]));

    // A batch with one invalid input creates nothing: the valid input's
    // record, its unique value and its link to the company are all undone.
    let refused = http
        .post(format!("{base}/deals/batch/create"))
        .bearer_auth(&bearer)
        .json(&json!({"inputs": [
            {"properties": {"dealname": "E", "external_id": "D1"}, "associations": to_company},
            {"properties": {"dealname": "F", "dealstage": "nope"}},
        ]}))
        .send()
        .await?;
    assert_eq!(refused.status(), 400);
    assert_eq!(sim.org.records("deals").len(), 1);
    let links: Value = http
        .get(format!(
            "{}/crm/v4/objects/companies/{company_id}/associations/deals",
            sim.base_url
        ))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(links["results"].as_array().map(Vec::len), Some(1));
    let again = http
        .post(format!("{base}/deals"))
        .bearer_auth(&bearer)
        .json(&json!({"properties": {"dealname": "E", "external_id": "D1"}}))
        .send()
        .await?;
    assert_eq!(again.status(), 201);

    let gte_5 = json!({"propertyName": "amount", "operator": "GTE", "value": "5"});
    let found: Value = http
        .post(format!("{base}/deals/search"))
        .bearer_auth(&bearer)
        .json(&json!({"filterGroups": [{"filters": [gte_5]}], "properties": ["dealname"]}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(found["total"], 1, "only the first deal has an amount");

    let assoc: Value = http
        .get(format!(
            "{}/crm/v4/objects/companies/{company_id}/associations/deals",
            sim.base_url
        ))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(assoc["results"][0]["associationTypes"][0]["typeId"], 6);

    let props: Value = http
        .get(format!("{}/crm/v3/properties/deals", sim.base_url))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    assert!(props["results"].as_array().is_some_and(|r| {
        r.iter()
            .any(|p| p["name"] == "external_id" && p["hasUniqueValue"] == true)
    }));
    sim.org.expire_tokens();
    let expired = http
        .get(format!("{}/crm/v3/owners", sim.base_url))
        .bearer_auth(&bearer)
        .send()
        .await?;
    assert_eq!(expired.status(), 401);
    Ok(())
}
