//! HubSpot sim: engagement objects and v4 associations.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Hubspot;

const PROFILE: &str = r#"
oauth_clients:
  - { client_id: c, client_secret: s, refresh_token: r }
owners:
  - { email: ada@example.com, first_name: Ada, last_name: Lovelace }
custom_properties:
  - { object_type: calls, name: activity_subtype, label: Activity subtype,
      type: enumeration, options: [demo, discovery] }
"#;

fn property<'a>(list: &'a Value, name: &str) -> &'a Value {
    let results = list["results"].as_array();
    let found = results.and_then(|r| r.iter().find(|p| p["name"] == name));
    found.unwrap_or(&Value::Null)
}

fn options(prop: &Value) -> Vec<String> {
    let list = prop["options"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(|o| o["value"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn engagement_properties_are_served_with_types_and_options() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(PROFILE)).await?;
    let expected: [(&str, &str, &str, &[&str]); 8] = [
        (
            "calls",
            "hs_call_direction",
            "enumeration",
            &["INBOUND", "OUTBOUND"],
        ),
        ("calls", "hs_call_duration", "number", &[]),
        (
            "calls",
            "activity_subtype",
            "enumeration",
            &["demo", "discovery"],
        ),
        (
            "emails",
            "hs_email_direction",
            "enumeration",
            &["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"],
        ),
        (
            "meetings",
            "hs_meeting_outcome",
            "enumeration",
            &[
                "SCHEDULED",
                "COMPLETED",
                "RESCHEDULED",
                "NO_SHOW",
                "CANCELED",
            ],
        ),
        ("notes", "hs_note_body", "string", &[]),
        (
            "tasks",
            "hs_task_status",
            "enumeration",
            &[
                "NOT_STARTED",
                "IN_PROGRESS",
                "WAITING",
                "COMPLETED",
                "DEFERRED",
            ],
        ),
        (
            "tasks",
            "hs_task_priority",
            "enumeration",
            &["LOW", "MEDIUM", "HIGH"],
        ),
    ];
    for (object_type, name, kind, values) in expected {
        let path = format!("/crm/v3/properties/{object_type}");
        let (status, list) = hs.call(Method::GET, &path, None).await?;
        assert_eq!(status, 200);
        let prop = property(&list, name);
        assert_eq!(prop["type"], kind, "{object_type}.{name}");
        assert_eq!(options(prop), values, "{object_type}.{name}");
        assert_eq!(property(&list, "hs_timestamp")["type"], "datetime");
        assert_eq!(property(&list, "hubspot_owner_id")["type"], "enumeration");
    }
    Ok(())
}

#[tokio::test]
async fn engagements_require_hs_timestamp_and_check_options() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(PROFILE)).await?;
    let (status, body) = hs
        .call(
            Method::POST,
            "/crm/v3/objects/calls",
            Some(json!({"properties": {"hs_call_title": "Intro"}})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert_eq!(body["errors"][0]["code"], "REQUIRED_FIELD");
    assert_eq!(
        body["errors"][0]["context"]["propertyName"],
        json!(["hs_timestamp"])
    );
    assert!(
        body["correlationId"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    let bad = json!({"properties": {"hs_timestamp": "2024-05-01T10:00:00Z",
        "hs_call_direction": "SIDEWAYS"}});
    let (status, body) = hs
        .call(Method::POST, "/crm/v3/objects/calls", Some(bad))
        .await?;
    assert_eq!(
        (status, body["errors"][0]["code"].clone()),
        (400, json!("INVALID_OPTION"))
    );

    let owner = hs.sim.org.add_owner("bo@example.com", "Bo", "B");
    let call = hs
        .create(
            "calls",
            json!({"properties": {"hs_timestamp": "2024-05-01T10:00:00Z",
                "hs_call_direction": "OUTBOUND", "hs_call_duration": "60000",
                "activity_subtype": "demo", "hubspot_owner_id": owner}}),
        )
        .await?;
    let (_, got) = hs
        .call(Method::GET, &format!("/crm/v3/objects/calls/{call}"), None)
        .await?;
    assert_eq!(
        got["properties"]["hs_timestamp"],
        "2024-05-01T10:00:00.000Z"
    );
    assert_eq!(got["properties"]["activity_subtype"], "demo");
    assert!(got["properties"]["hs_createdate"].is_string());

    let search = json!({"filterGroups": [{"filters": [
        {"propertyName": "hs_call_direction", "operator": "EQ", "value": "OUTBOUND"}]}]});
    let (_, found) = hs
        .call(Method::POST, "/crm/v3/objects/calls/search", Some(search))
        .await?;
    assert_eq!(found["total"], 1);
    Ok(())
}

#[tokio::test]
async fn engagements_associate_inline_on_create_and_batch_create() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(PROFILE)).await?;
    let contact = hs
        .create(
            "contacts",
            json!({"properties": {"email": "a@example.com"}}),
        )
        .await?;
    let deal = hs
        .create("deals", json!({"properties": {"dealname": "D"}}))
        .await?;
    let link = |to: &str, type_id: u32| {
        json!({"to": {"id": to}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]})
    };
    let note = hs
        .create(
            "notes",
            json!({"properties": {"hs_timestamp": "1714557600000", "hs_note_body": "hi"},
                   "associations": [link(&contact, 202), link(&deal, 214)]}),
        )
        .await?;
    let path = format!("/crm/v4/objects/contacts/{contact}/associations/notes");
    let (_, back) = hs.call(Method::GET, &path, None).await?;
    assert_eq!(
        back["results"][0]["toObjectId"],
        json!(note.parse::<u64>()?)
    );
    assert_eq!(back["results"][0]["associationTypes"][0]["typeId"], 201);

    let batch = json!({"inputs": [
        {"properties": {"hs_timestamp": "2024-05-01T00:00:00Z", "hs_task_subject": "a",
            "hs_task_status": "NOT_STARTED"}, "associations": [link(&contact, 204)]},
        {"properties": {"hs_timestamp": "2024-05-01T00:00:00Z", "hs_task_subject": "b"},
            "associations": [link("999999", 204)]},
    ]});
    let (status, body) = hs
        .call(
            Method::POST,
            "/crm/v3/objects/tasks/batch/create",
            Some(batch),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(
        hs.sim.org.records("tasks").is_empty(),
        "a refused batch creates nothing"
    );
    Ok(())
}

#[tokio::test]
async fn v4_association_endpoints_link_both_ends_and_refuse_unknown_targets() -> anyhow::Result<()>
{
    let hs = Hubspot::start(Some(PROFILE)).await?;
    let contact = hs
        .create(
            "contacts",
            json!({"properties": {"email": "a@example.com"}}),
        )
        .await?;
    let company = hs
        .create("companies", json!({"properties": {"name": "Acme"}}))
        .await?;
    let meeting = hs
        .create(
            "meetings",
            json!({"properties": {"hs_timestamp": "2024-05-01T00:00:00Z"}}),
        )
        .await?;
    let email = hs
        .create(
            "emails",
            json!({"properties": {"hs_timestamp": "2024-05-01T00:00:00Z"}}),
        )
        .await?;

    let spec =
        |id: u32| json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": id}]);
    let path = format!("/crm/v4/objects/meetings/{meeting}/associations/contacts/{contact}");
    let (status, body) = hs.call(Method::PUT, &path, Some(spec(200))).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["fromObjectTypeId"], "0-47");
    assert_eq!(body["toObjectTypeId"], "0-1");
    let (status, body) = hs.call(Method::PUT, &path, Some(spec(3))).await?;
    assert_eq!(
        (status, body["category"].clone()),
        (400, json!("VALIDATION_ERROR"))
    );

    let default =
        format!("/crm/v4/objects/emails/{email}/associations/default/companies/{company}");
    let (status, body) = hs.call(Method::PUT, &default, None).await?;
    assert_eq!(status, 200);
    assert_eq!(
        body["results"][0]["associationSpec"]["associationTypeId"],
        186
    );
    let back = format!("/crm/v4/objects/companies/{company}/associations/emails");
    let (_, listed) = hs.call(Method::GET, &back, None).await?;
    assert_eq!(listed["results"][0]["associationTypes"][0]["typeId"], 185);

    let missing = format!("/crm/v4/objects/meetings/{meeting}/associations/contacts/424242");
    let (status, body) = hs.call(Method::PUT, &missing, Some(spec(200))).await?;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(
        body["correlationId"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    let batch = json!({"inputs": [
        {"from": {"id": email}, "to": {"id": contact}, "types": spec(198)},
        {"from": {"id": email}, "to": {"id": "424242"}, "types": spec(198)},
    ]});
    let (status, body) = hs
        .call(
            Method::POST,
            "/crm/v4/associations/emails/contacts/batch/create",
            Some(batch),
        )
        .await?;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        body["results"][0]["toObjectId"],
        json!(contact.parse::<u64>()?)
    );
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["category"], "VALIDATION_ERROR");
    let record = hs.sim.org.record("contacts", &contact);
    let links = record.map(|r| r.associations).unwrap_or_default();
    assert!(links.contains(&("emails".to_owned(), email.clone(), 197)));
    assert!(links.contains(&("meetings".to_owned(), meeting.clone(), 199)));
    Ok(())
}

#[tokio::test]
async fn association_labels_are_user_defined_types_beside_the_default() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(
        "oauth_clients: [{client_id: c, client_secret: s, refresh_token: r}]\n\
         association_labels:\n  \
           - {from: calls, to: contacts, label: Decision maker, type_id: 1001}\n",
    ))
    .await?;
    let contact = hs
        .create(
            "contacts",
            json!({"properties": {"email": "a@example.com"}}),
        )
        .await?;
    let call = hs
        .create(
            "calls",
            json!({"properties": {"hs_timestamp": "2024-05-01T00:00:00Z"}}),
        )
        .await?;
    let (_, labels) = hs
        .call(
            Method::GET,
            "/crm/v4/associations/calls/contacts/labels",
            None,
        )
        .await?;
    assert_eq!(
        labels["results"],
        json!([
            {"category": "HUBSPOT_DEFINED", "typeId": 194, "label": null},
            {"category": "USER_DEFINED", "typeId": 1001, "label": "Decision maker"},
        ])
    );
    let path = format!("/crm/v4/objects/calls/{call}/associations/contacts/{contact}");
    let both = json!([
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194},
        {"associationCategory": "USER_DEFINED", "associationTypeId": 1001},
    ]);
    let (status, pair) = hs.call(Method::PUT, &path, Some(both)).await?;
    assert_eq!(status, 201);
    assert_eq!(pair["labels"], json!(["Decision maker"]));
    let list = format!("/crm/v4/objects/calls/{call}/associations/contacts");
    let (_, listed) = hs.call(Method::GET, &list, None).await?;
    assert_eq!(listed["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        listed["results"][0]["associationTypes"],
        json!([
            {"category": "HUBSPOT_DEFINED", "typeId": 194, "label": null},
            {"category": "USER_DEFINED", "typeId": 1001, "label": "Decision maker"},
        ])
    );
    let unknown = json!([{"associationCategory": "USER_DEFINED", "associationTypeId": 1002}]);
    let (status, _) = hs.call(Method::PUT, &path, Some(unknown)).await?;
    assert_eq!(status, 400);
    Ok(())
}
