//! Salesforce sim: the Task object, custom objects and reference integrity.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Salesforce;

/// An org with a restricted picklist on Task and a custom activity object.
const PROFILE: &str = r#"
oauth_clients:
  - { client_id: c, client_secret: s, refresh_token: r }
custom_fields:
  - { object: Task, name: Activity_Subtype__c, type: picklist, restricted: true,
      values: [Demo, Discovery] }
  - { object: Sales_Activity__c, name: Outcome__c, type: string, length: 40 }
custom_objects:
  - name: Sales_Activity__c
    label: Sales Activity
    fields:
      - { name: Name, type: autonumber, display_format: "SA-{0000}" }
      - { name: Contact__c, type: reference, reference_to: [Contact], required: true }
      - { name: Minutes__c, type: int }
  - name: Visit__c
"#;

fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    let fields = describe["fields"].as_array();
    let found = fields.and_then(|f| f.iter().find(|f| f["name"] == name));
    found.unwrap_or(&Value::Null)
}

fn values(field: &Value) -> Vec<String> {
    let list = field["picklistValues"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter()
        .filter_map(|v| v["value"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn task_is_described_from_event_with_its_own_fields() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(PROFILE)).await?;
    let (status, task) = sf
        .call(Method::GET, "/sobjects/Task/describe", None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(task["keyPrefix"], "00T");
    let status_field = field(&task, "Status");
    assert_eq!(
        values(status_field),
        [
            "Not Started",
            "In Progress",
            "Completed",
            "Waiting on someone else",
            "Deferred"
        ]
    );
    assert_eq!(status_field["defaultedOnCreate"], true);
    assert_eq!(values(field(&task, "Priority")), ["High", "Normal", "Low"]);
    let subtype = field(&task, "TaskSubtype");
    assert_eq!(
        values(subtype),
        ["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"]
    );
    assert_eq!(
        (subtype["createable"].clone(), subtype["updateable"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        values(field(&task, "Type")),
        ["Call", "Email", "Meeting", "Other"]
    );
    assert_eq!(
        values(field(&task, "CallType")),
        ["Internal", "Inbound", "Outbound"]
    );
    assert_eq!(field(&task, "CallDurationInSeconds")["type"], "int");
    assert_eq!(field(&task, "CallDisposition")["type"], "string");
    assert_eq!(field(&task, "Description")["type"], "textarea");
    assert_eq!(field(&task, "ActivityDate")["type"], "date");
    assert_eq!(
        field(&task, "WhoId")["referenceTo"],
        json!(["Contact", "Lead"])
    );
    assert_eq!(
        field(&task, "WhatId")["referenceTo"],
        json!(["Account", "Opportunity", "Sales_Activity__c", "Visit__c"])
    );
    assert_eq!(field(&task, "StartDateTime"), &Value::Null);
    assert_eq!(
        field(&task, "Activity_Subtype__c")["restrictedPicklist"],
        true
    );

    let (_, global) = sf.call(Method::GET, "/sobjects", None).await?;
    let names: Vec<&str> = global["sobjects"]
        .as_array()
        .map(|l| l.iter().filter_map(|o| o["name"].as_str()).collect())
        .unwrap_or_default();
    for name in ["Task", "Sales_Activity__c", "Visit__c"] {
        assert!(
            names.contains(&name),
            "{name} missing from the global describe"
        );
    }
    Ok(())
}

#[tokio::test]
async fn task_defaults_derived_flags_and_create_only_subtype() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(PROFILE)).await?;
    let contact = sf.create("Contact", json!({"LastName": "Ng"})).await?;
    let task = sf
        .create(
            "Task",
            json!({"Subject": "Call", "WhoId": contact, "TaskSubtype": "Call",
                   "CallDurationInSeconds": 90, "ActivityDate": "2024-05-01"}),
        )
        .await?;
    let (_, got) = sf
        .call(Method::GET, &format!("/sobjects/Task/{task}"), None)
        .await?;
    assert_eq!(got["Status"], "Not Started");
    assert_eq!(got["Priority"], "Normal");
    assert_eq!(got["IsClosed"], false);
    assert_eq!(got["CallDurationInSeconds"], 90);

    let path = format!("/sobjects/Task/{task}");
    let done = json!({"Status": "Completed", "Priority": "High"});
    assert_eq!(sf.call(Method::PATCH, &path, Some(done)).await?.0, 204);
    let (_, got) = sf.call(Method::GET, &path, None).await?;
    assert_eq!(
        (got["IsClosed"].clone(), got["IsHighPriority"].clone()),
        (json!(true), json!(true))
    );

    let (status, body) = sf
        .call(Method::PATCH, &path, Some(json!({"TaskSubtype": "Email"})))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(body[0]["fields"], json!(["TaskSubtype"]));

    let bad = json!({"Subject": "x", "Activity_Subtype__c": "Lunch"});
    let (status, body) = sf.call(Method::POST, "/sobjects/Task", Some(bad)).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body[0]["errorCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    Ok(())
}

#[tokio::test]
async fn custom_objects_have_standard_fields_crud_collections_and_soql() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(PROFILE)).await?;
    let (status, describe) = sf
        .call(Method::GET, "/sobjects/Sales_Activity__c/describe", None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(describe["custom"], true);
    for name in [
        "Id",
        "Name",
        "OwnerId",
        "CreatedById",
        "CreatedDate",
        "LastModifiedById",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
        "Contact__c",
        "Minutes__c",
        "Outcome__c",
    ] {
        assert_ne!(field(&describe, name), &Value::Null, "{name} missing");
    }
    assert_eq!(field(&describe, "Name")["autoNumber"], true);
    assert_eq!(
        field(&describe, "Contact__c")["relationshipName"],
        "Contact__r"
    );
    assert_eq!(
        field(&describe, "Contact__c")["referenceTo"],
        json!(["Contact"])
    );
    let (_, visit) = sf
        .call(Method::GET, "/sobjects/Visit__c/describe", None)
        .await?;
    assert_eq!(field(&visit, "Name")["length"], 80);

    let contact = sf.create("Contact", json!({"LastName": "Ng"})).await?;
    let (status, body) = sf
        .call(
            Method::POST,
            "/sobjects/Sales_Activity__c",
            Some(json!({"Minutes__c": 5})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    let first = sf
        .create(
            "Sales_Activity__c",
            json!({"Contact__c": contact, "Minutes__c": 30}),
        )
        .await?;
    let path = format!("/sobjects/Sales_Activity__c/{first}");
    let (_, got) = sf.call(Method::GET, &path, None).await?;
    assert_eq!(got["Name"], "SA-0001");
    assert_eq!(got["OwnerId"], json!(sf.sim.org.integration_user_id()));
    assert_eq!(got["IsDeleted"], false);

    let records = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Sales_Activity__c"}, "Contact__c": contact, "Minutes__c": 10},
        {"attributes": {"type": "Visit__c"}, "Name": "Site visit"},
    ]});
    let (_, created) = sf
        .call(Method::POST, "/composite/sobjects", Some(records))
        .await?;
    assert_eq!(created[0]["success"], true, "{created}");
    assert_eq!(created[1]["success"], true, "{created}");

    let patch = json!({"Outcome__c": "booked"});
    assert_eq!(sf.call(Method::PATCH, &path, Some(patch)).await?.0, 204);
    let soql = format!(
        "/query?q=SELECT+Id,Name,Outcome__c+FROM+Sales_Activity__c+WHERE+Contact__c='{contact}'\
         +ORDER+BY+Name"
    );
    let (_, rows) = sf.call(Method::GET, &soql, None).await?;
    assert_eq!(rows["totalSize"], 2);
    assert_eq!(rows["records"][0]["Name"], "SA-0001");
    assert_eq!(rows["records"][0]["Outcome__c"], "booked");
    assert_eq!(rows["records"][1]["Name"], "SA-0002");

    assert_eq!(sf.call(Method::DELETE, &path, None).await?.0, 204);
    assert_eq!(sf.call(Method::GET, &path, None).await?.0, 404);
    Ok(())
}

#[tokio::test]
async fn reference_integrity_refuses_malformed_wrong_type_and_missing_ids() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(PROFILE)).await?;
    let account = sf.create("Account", json!({"Name": "Acme"})).await?;
    let contact = sf
        .create("Contact", json!({"LastName": "Ng", "AccountId": account}))
        .await?;
    let gone = sf.create("Account", json!({"Name": "Gone"})).await?;
    let deleted = sf
        .call(Method::DELETE, &format!("/sobjects/Account/{gone}"), None)
        .await?;
    assert_eq!(deleted.0, 204);

    for (value, code, message) in [
        (
            "not-an-id",
            "MALFORMED_ID",
            "Account ID: id value of incorrect type: not-an-id",
        ),
        (
            contact.as_str(),
            "FIELD_INTEGRITY_EXCEPTION",
            &*format!("Account ID: id value of incorrect type: {contact}"),
        ),
        (
            gone.as_str(),
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
        ),
    ] {
        let body = json!({"LastName": "X", "AccountId": value});
        let (status, answer) = sf
            .call(Method::POST, "/sobjects/Contact", Some(body))
            .await?;
        assert_eq!(status, 400, "{value}");
        assert_eq!(
            answer,
            json!([{"message": message, "errorCode": code, "fields": ["AccountId"]}])
        );
    }

    let lookup = json!({"Contact__c": account});
    let (_, answer) = sf
        .call(Method::POST, "/sobjects/Sales_Activity__c", Some(lookup))
        .await?;
    assert_eq!(answer[0]["errorCode"], "FIELD_INTEGRITY_EXCEPTION");
    assert_eq!(answer[0]["fields"], json!(["Contact__c"]));

    let update = json!({"records": [
        {"attributes": {"type": "Contact"}, "Id": contact, "AccountId": gone}
    ]});
    let (_, answer) = sf
        .call(Method::PATCH, "/composite/sobjects", Some(update))
        .await?;
    assert_eq!(
        answer[0]["errors"][0]["statusCode"],
        "INVALID_CROSS_REFERENCE_KEY"
    );
    assert_eq!(answer[0]["errors"][0]["fields"], json!(["AccountId"]));
    Ok(())
}

#[tokio::test]
async fn task_rule_refuses_a_lead_with_a_what_id() -> anyhow::Result<()> {
    let sf = Salesforce::start(Some(PROFILE)).await?;
    let lead = sf
        .create("Lead", json!({"LastName": "Li", "Company": "Co"}))
        .await?;
    let account = sf.create("Account", json!({"Name": "Acme"})).await?;
    let contact = sf.create("Contact", json!({"LastName": "Ng"})).await?;
    let body = json!({"Subject": "Call", "WhoId": lead, "WhatId": account});
    let (status, answer) = sf.call(Method::POST, "/sobjects/Task", Some(body)).await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "FIELD_INTEGRITY_EXCEPTION");
    assert_eq!(answer[0]["fields"], json!(["WhoId", "WhatId"]));

    let on_lead = sf
        .create("Task", json!({"Subject": "Call", "WhoId": lead}))
        .await?;
    let path = format!("/sobjects/Task/{on_lead}");
    let (status, answer) = sf
        .call(Method::PATCH, &path, Some(json!({"WhatId": account})))
        .await?;
    assert_eq!(
        (status, answer[0]["errorCode"].clone()),
        (400, json!("FIELD_INTEGRITY_EXCEPTION"))
    );
    let fine = json!({"Subject": "Call", "WhoId": contact, "WhatId": account});
    sf.create("Task", fine).await?;
    Ok(())
}
