//! The official Python clients, `simple-salesforce` and `hubspot-api-client`, against the
//! simulators: each script drives one area (auth, CRUD, query or search, batch,
//! associations, errors) and prints what the client returned or raised; the tests check that
//! it is what a real org would have given it.
//!
//! The clients are installed from PyPI, at the versions pinned in `fidelity/requirements.txt`,
//! into a virtualenv under Cargo's target directory, once per requirements file. A missing
//! `python3` or a failed install fails the tests with pip's output: nothing is skipped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use conduit_crm_sim::{hubspot, salesforce};
use serde_json::{Map, Value, json};

/// The directory of the scripts and the requirements.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity")
}

/// The virtualenv's python, installing the clients on first use.
fn python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(install).clone()
}

fn run(command: &mut std::process::Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("could not run {command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Creates the virtualenv and installs the pinned clients unless the same pins are there.
fn install() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fidelity-venv");
    let python = venv.join("bin/python");
    let requirements = scripts().join("requirements.txt");
    let pins = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("could not read {}: {e}", requirements.display()))?;
    let stamp = venv.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&pins) {
        return Ok(python);
    }
    run(std::process::Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(std::process::Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements))?;
    std::fs::write(&stamp, pins)
        .map_err(|e| format!("could not write {}: {e}", stamp.display()))?;
    Ok(python)
}

/// Runs `script` with `env` and parses the JSON it prints.
async fn observe(script: &str, env: &[(&str, String)]) -> anyhow::Result<Value> {
    let python = tokio::task::spawn_blocking(python)
        .await?
        .map_err(|e| anyhow::anyhow!("installing the python clients failed: {e}"))?;
    let output = tokio::process::Command::new(python)
        .arg(scripts().join(script))
        .current_dir(scripts())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{script} printed {text:?}: {e}"))
}

/// A Salesforce sim with a Task field and a custom object, and the env its scripts need.
async fn salesforce_sim() -> anyhow::Result<(
    conduit_crm_sim::Sim<salesforce::Org>,
    Vec<(&'static str, String)>,
)> {
    let mut profile = salesforce::Profile::default();
    let extra = salesforce::Profile::from_yaml_str(
        r#"
oauth_clients: [{ client_id: x, client_secret: y, refresh_token: z }]
custom_objects:
  - name: Sales_Activity__c
    fields:
      - { name: Name, type: autonumber, display_format: "SA-{0000}" }
      - { name: Contact__c, type: reference, reference_to: [Contact] }
      - { name: Minutes__c, type: int }
"#,
    )?;
    profile.custom_objects = extra.custom_objects;
    let sim = salesforce::serve(profile, "127.0.0.1:0".parse()?).await?;
    let c = sim.org.oauth_client();
    let env = vec![
        ("SF_URL", sim.base_url.clone()),
        ("SF_CLIENT_ID", c.client_id),
        ("SF_CLIENT_SECRET", c.client_secret),
        ("SF_REFRESH_TOKEN", c.refresh_token),
    ];
    Ok((sim, env))
}

/// A HubSpot sim with a private app token, and the env its scripts need.
async fn hubspot_sim() -> anyhow::Result<(
    conduit_crm_sim::Sim<hubspot::Org>,
    Vec<(&'static str, String)>,
)> {
    let sim = hubspot::serve(hubspot::Profile::default(), "127.0.0.1:0".parse()?).await?;
    sim.org.add_private_app_token("pat-fidelity");
    let c = sim.org.oauth_client();
    let env = vec![
        ("HS_URL", sim.base_url.clone()),
        ("HS_TOKEN", "pat-fidelity".to_owned()),
        ("HS_CLIENT_ID", c.client_id),
        ("HS_CLIENT_SECRET", c.client_secret),
        ("HS_REFRESH_TOKEN", c.refresh_token),
    ];
    Ok((sim, env))
}

/// The error `observed[key]` names: exception class, status and error code or category.
fn raised(observed: &Value, key: &str) -> (String, Value, Value) {
    let error = &observed[key];
    let body = &error["body"];
    let code = body[0]["errorCode"].clone();
    let code = if code.is_null() {
        body["category"].clone()
    } else {
        code
    };
    let class = error["class"]
        .as_str()
        .unwrap_or("nothing raised")
        .to_owned();
    (class, error["status"].clone(), code)
}

#[tokio::test]
async fn simple_salesforce_auth_describe_limits_and_a_revoked_session() -> anyhow::Result<()> {
    let (sim, env) = salesforce_sim().await?;
    let seen = observe("salesforce_auth.py", &env).await?;
    assert_eq!(seen["token_type"], "Bearer");
    assert_eq!(seen["instance_url"], json!(sim.base_url));
    assert_eq!(
        seen["sobjects"],
        json!([
            "Account",
            "Contact",
            "Event",
            "Lead",
            "Opportunity",
            "Sales_Activity__c",
            "Task"
        ])
    );
    assert_eq!(seen["api_max"], 15_000);
    assert!(
        seen["api_usage"].to_string().contains("15000"),
        "{}",
        seen["api_usage"]
    );
    let (class, status, code) = raised(&seen, "revoked");
    assert_eq!(class, "SalesforceExpiredSession");
    assert_eq!((status, code), (json!(401), json!("INVALID_SESSION_ID")));
    Ok(())
}

#[tokio::test]
async fn simple_salesforce_crud_on_built_in_and_custom_objects() -> anyhow::Result<()> {
    let (_sim, env) = salesforce_sim().await?;
    let seen = observe("salesforce_crud.py", &env).await?;
    assert_eq!(seen["created"]["success"], true);
    assert_eq!(seen["created"]["errors"], json!([]));
    assert_eq!(seen["got_name"], "Acme");
    assert_eq!(seen["got_type"], "Account");
    assert_eq!(seen["update_status"], 204);
    assert_eq!(seen["by_key_name"], "Acme Corp");
    assert_eq!(seen["upsert_update"], 200);
    assert_eq!(seen["upsert_create"], 201);
    assert_eq!(
        (
            &seen["task_status"],
            &seen["task_priority"],
            &seen["task_closed"]
        ),
        (&json!("Not Started"), &json!("Normal"), &json!(false))
    );
    assert_eq!(seen["activity_name"], "SA-0001");
    assert_eq!(seen["delete_status"], 204);
    let (class, status, code) = raised(&seen, "gone");
    assert_eq!(class, "SalesforceResourceNotFound");
    assert_eq!((status, code), (json!(404), json!("NOT_FOUND")));
    Ok(())
}

#[tokio::test]
async fn simple_salesforce_query_query_all_across_pages_and_deleted_rows() -> anyhow::Result<()> {
    let (sim, env) = salesforce_sim().await?;
    for i in 0..2100 {
        let mut fields = Map::new();
        fields.insert("LastName".into(), json!(format!("L{i}")));
        sim.org.insert("Contact", fields);
    }
    let seen = observe("salesforce_query.py", &env).await?;
    assert_eq!(seen["some"], json!(["L2", "L1"]));
    assert_eq!(seen["some_total"], 2);
    assert_eq!(seen["first_page_done"], false);
    assert_eq!(seen["first_page_rows"], 2000);
    assert_eq!(seen["has_next"], true);
    assert_eq!(
        (&seen["all_total"], &seen["all_rows"]),
        (&json!(2100), &json!(2100))
    );
    Ok(())
}

#[tokio::test]
async fn simple_salesforce_collections_and_composite() -> anyhow::Result<()> {
    let (_sim, env) = salesforce_sim().await?;
    let seen = observe("salesforce_batch.py", &env).await?;
    let collection = &seen["collection"];
    assert_eq!(collection[0]["success"], true);
    assert_eq!(collection[1]["success"], false);
    assert_eq!(collection[1]["errors"][0]["statusCode"], "INVALID_FIELD");
    assert_eq!(seen["composite_codes"], json!([201, 201]));
    assert_eq!(seen["accounts"], 2);
    Ok(())
}

#[tokio::test]
async fn simple_salesforce_raises_what_salesforce_refusals_make_it_raise() -> anyhow::Result<()> {
    let (_sim, env) = salesforce_sim().await?;
    let seen = observe("salesforce_errors.py", &env).await?;
    for (key, class, status, code) in [
        (
            "required",
            "SalesforceMalformedRequest",
            400,
            "REQUIRED_FIELD_MISSING",
        ),
        (
            "picklist",
            "SalesforceMalformedRequest",
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        (
            "malformed_id",
            "SalesforceMalformedRequest",
            400,
            "MALFORMED_ID",
        ),
        (
            "task_lead_what",
            "SalesforceMalformedRequest",
            400,
            "FIELD_INTEGRITY_EXCEPTION",
        ),
        (
            "bad_soql",
            "SalesforceMalformedRequest",
            400,
            "INVALID_FIELD",
        ),
        (
            "unknown_object",
            "SalesforceResourceNotFound",
            404,
            "NOT_FOUND",
        ),
        (
            "limit",
            "SalesforceRefusedRequest",
            403,
            "REQUEST_LIMIT_EXCEEDED",
        ),
    ] {
        assert_eq!(
            raised(&seen, key),
            (class.to_owned(), json!(status), json!(code)),
            "{key}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn hubspot_client_oauth_refresh_and_refused_tokens() -> anyhow::Result<()> {
    let (sim, env) = hubspot_sim().await?;
    let seen = observe("hubspot_auth.py", &env).await?;
    assert_eq!(seen["expires_in"], 1800);
    assert_eq!(seen["token_type"], "bearer");
    assert_eq!(seen["has_refresh"], true);
    assert_eq!(seen["created_by"], json!(sim.org.integration_user_id()));
    let (class, status, category) = raised(&seen, "bad_token");
    assert_eq!(
        (class.as_str(), status),
        ("UnauthorizedException", json!(401))
    );
    assert_eq!(category, "INVALID_AUTHENTICATION");
    let (class, status, _) = raised(&seen, "bad_refresh");
    assert_eq!((class.as_str(), status), ("ApiException", json!(400)));
    Ok(())
}

#[tokio::test]
async fn hubspot_client_crud_list_and_engagements() -> anyhow::Result<()> {
    let (sim, env) = hubspot_sim().await?;
    let seen = observe("hubspot_crud.py", &env).await?;
    assert_eq!(seen["read_email"], "ada@example.com");
    assert_eq!(seen["read_archived"], false);
    assert_eq!(seen["created_at_type"], "datetime");
    assert_eq!(seen["updated_name"], "Augusta");
    assert_eq!(seen["listed"], json!([seen["id"]]));
    assert_eq!(seen["call_title"], "Intro");
    assert_eq!(seen["call_timestamp"], "2024-05-01T10:00:00.000Z");
    let (class, status, category) = raised(&seen, "archived_read");
    assert_eq!((class.as_str(), status), ("NotFoundException", json!(404)));
    assert_eq!(category, "OBJECT_NOT_FOUND");
    let calls = sim.org.records("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].associations[0].2, 194);
    Ok(())
}

#[tokio::test]
async fn hubspot_client_search_filters_sorts_and_pages() -> anyhow::Result<()> {
    let (sim, env) = hubspot_sim().await?;
    for (name, amount) in [("a", "50"), ("b", "150"), ("c", "300"), ("d", "200")] {
        let mut properties = Map::new();
        properties.insert("dealname".into(), json!(name));
        properties.insert("amount".into(), json!(amount));
        sim.org.insert("deals", properties);
    }
    let seen = observe("hubspot_search.py", &env).await?;
    assert_eq!(seen["total"], 3);
    assert_eq!(seen["first"], json!(["c", "d"]));
    assert_eq!(seen["second"], json!(["b"]));
    assert_eq!(seen["more"], false);
    Ok(())
}

#[tokio::test]
async fn hubspot_client_batch_create_read_upsert_and_refusal() -> anyhow::Result<()> {
    let (_sim, env) = hubspot_sim().await?;
    let seen = observe("hubspot_batch.py", &env).await?;
    assert_eq!(seen["status"], "COMPLETE");
    assert_eq!(seen["created"], 2);
    assert_eq!(seen["read_names"], json!(["A", "B"]));
    assert_eq!(seen["read_errors"], json!(["OBJECT_NOT_FOUND"]));
    assert_eq!(seen["upsert_new"], json!([true, false, true]));
    assert_eq!(seen["upsert_names"], json!(["Two", "Three"]));
    let (class, status, category) = raised(&seen, "refused");
    assert_eq!((class.as_str(), status), ("ApiException", json!(400)));
    assert_eq!(category, "VALIDATION_ERROR");
    Ok(())
}

#[tokio::test]
async fn hubspot_client_v4_associations() -> anyhow::Result<()> {
    let (_sim, env) = hubspot_sim().await?;
    let seen = observe("hubspot_associations.py", &env).await?;
    assert_eq!(seen["pair"], json!(["0-46", "0-1"]));
    assert_eq!(seen["default_type"], 202);
    assert_eq!(seen["batch_status"], "COMPLETE");
    let ids = seen["note_ids"].clone();
    assert_eq!(
        seen["back_links"],
        json!([[ids[0], [201]], [ids[1], [201]]])
    );
    let (class, status, category) = raised(&seen, "missing");
    assert_eq!((class.as_str(), status), ("ApiException", json!(400)));
    assert_eq!(category, "VALIDATION_ERROR");
    Ok(())
}

#[tokio::test]
async fn hubspot_client_raises_what_hubspot_refusals_make_it_raise() -> anyhow::Result<()> {
    let (_sim, env) = hubspot_sim().await?;
    let seen = observe("hubspot_errors.py", &env).await?;
    for (key, class, status, category) in [
        ("duplicate", "ApiException", 409, "CONFLICT"),
        ("unknown_property", "ApiException", 400, "VALIDATION_ERROR"),
        ("bad_option", "ApiException", 400, "VALIDATION_ERROR"),
        ("no_timestamp", "ApiException", 400, "VALIDATION_ERROR"),
        ("not_midnight", "ApiException", 400, "VALIDATION_ERROR"),
        ("missing", "NotFoundException", 404, "OBJECT_NOT_FOUND"),
    ] {
        let (seen_class, seen_status, seen_category) = raised(&seen, key);
        assert_eq!(
            (seen_class.as_str(), seen_status, seen_category),
            (class, json!(status), json!(category)),
            "{key}"
        );
        assert!(
            seen[key]["body"]["correlationId"].is_string(),
            "{key}: {}",
            seen[key]
        );
    }
    Ok(())
}
