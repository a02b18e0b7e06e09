//! HubSpot sim: custom objects declared with their schemas.

mod support;

use reqwest::Method;
use serde_json::json;
use support::Hubspot;

const PROFILE: &str = r#"
oauth_clients: [{ client_id: c, client_secret: s, refresh_token: r }]
custom_objects:
  - name: sales_activities
    labels: { singular: Sales activity, plural: Sales activities }
    primary_display_property: title
    required_properties: [title]
    properties:
      - { name: title, label: Title }
      - { name: minutes, label: Minutes, type: number }
      - { name: kind, label: Kind, type: enumeration, options: [demo, discovery] }
custom_properties:
  - { object_type: sales_activities, name: code, label: Code }
"#;

#[tokio::test]
async fn custom_objects_answer_by_name_id_and_qualified_name() -> anyhow::Result<()> {
    let hs = Hubspot::start(Some(PROFILE)).await?;
    let (status, schemas) = hs.call(Method::GET, "/crm/v3/schemas", None).await?;
    assert_eq!(status, 200);
    let schema = &schemas["results"][0];
    assert_eq!(schema["objectTypeId"], "2-1000");
    assert_eq!(schema["name"], "sales_activities");
    assert_eq!(schema["requiredProperties"], json!(["title"]));
    let names: Vec<String> = schema["properties"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for name in [
        "title",
        "minutes",
        "kind",
        "code",
        "hs_object_id",
        "hs_createdate",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let qualified = schema["fullyQualifiedName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, one) = hs
        .call(Method::GET, &format!("/crm/v3/schemas/{qualified}"), None)
        .await?;
    assert_eq!(
        (status, one["objectTypeId"].clone()),
        (200, json!("2-1000"))
    );

    let (status, body) = hs
        .call(
            Method::POST,
            "/crm/v3/objects/2-1000",
            Some(json!({"properties": {"minutes": "5"}})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], "REQUIRED_FIELD");
    let bad = json!({"properties": {"title": "Intro", "kind": "lunch"}});
    let (status, body) = hs
        .call(Method::POST, "/crm/v3/objects/2-1000", Some(bad))
        .await?;
    assert_eq!(
        (status, body["errors"][0]["code"].clone()),
        (400, json!("INVALID_OPTION"))
    );

    let id = hs
        .create(
            "2-1000",
            json!({"properties": {"title": "Intro", "minutes": "30", "kind": "demo"}}),
        )
        .await?;
    let (status, got) = hs
        .call(
            Method::GET,
            &format!("/crm/v3/objects/{qualified}/{id}?properties=title,minutes"),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(got["properties"]["title"], "Intro");
    assert!(got["properties"]["hs_createdate"].is_string());
    let search = json!({"filterGroups": [{"filters": [
        {"propertyName": "minutes", "operator": "GTE", "value": "10"}]}]});
    let (_, found) = hs
        .call(
            Method::POST,
            "/crm/v3/objects/sales_activities/search",
            Some(search),
        )
        .await?;
    assert_eq!(found["total"], 1);
    assert_eq!(hs.sim.org.records("sales_activities").len(), 1);
    Ok(())
}
