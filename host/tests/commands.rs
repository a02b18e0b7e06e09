//! The operator's and the plugin author's commands as they run them: the
//! first admin key of a database, and a new plugin crate from the template.

use std::process::{Command, Output};

use anyhow::{Context, bail};
use serde_json::Value;

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn conduit(args: &[&str], database: &std::path::Path) -> anyhow::Result<Output> {
    let output = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(args)
        .arg("--database")
        .arg(database)
        .env("CONDUIT_SECRET_KEY", SECRET)
        .output()
        .context("running conduit")?;
    Ok(output)
}

fn stdout(output: &Output) -> anyhow::Result<String> {
    if !output.status.success() {
        bail!(
            "conduit failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn keys_are_created_listed_and_revoked_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("conduit.db");
    let create = ["key", "create", "--name", "first admin", "--role", "admin"];
    let created: Value = serde_json::from_str(&stdout(&conduit(&create, &database)?)?)?;
    let id = created["id"].as_str().context("an id")?.to_owned();
    let secret = created["key"].as_str().context("a key")?;
    assert!(secret.starts_with("cdk_"), "{created}");

    let listed = stdout(&conduit(&["key", "list"], &database)?)?;
    assert!(
        listed.contains(&id) && listed.contains("\"admin\""),
        "{listed}"
    );
    assert!(
        !listed.contains(secret),
        "a listing shows a secret: {listed}"
    );

    let refused = conduit(
        &["key", "create", "--name", "a", "--role", "agent"],
        &database,
    )?;
    assert!(
        !refused.status.success(),
        "an agent key needs its customers"
    );

    stdout(&conduit(&["key", "revoke", &id], &database)?)?;
    let again = conduit(&["key", "revoke", &id], &database)?;
    assert!(!again.status.success(), "a key is revoked once");
    let listed = stdout(&conduit(&["key", "list"], &database)?)?;
    assert!(listed.contains("\"revoked_at\":\"20"), "{listed}");
    Ok(())
}

#[test]
fn plugin_new_writes_a_crate_with_a_sample_fixture() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["plugin", "new", "acme-stages", "--dir"])
        .arg(dir.path())
        .output()?;
    stdout(&output)?;
    let root = dir.path().join("acme-stages");
    let lib = std::fs::read_to_string(root.join("src/lib.rs"))?;
    assert!(lib.contains("pub struct AcmeStages;"), "{lib}");
    assert!(lib.contains("export_plugin!(AcmeStages)"), "{lib}");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    assert!(manifest.contains("name = \"acme-stages\""), "{manifest}");
    assert!(
        manifest.contains("crate-type = [\"cdylib\", \"rlib\"]"),
        "{manifest}"
    );
    let fixtures: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("fixtures.json"))?)?;
    assert_eq!(fixtures["cases"].as_array().map(Vec::len), Some(2));

    let again = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .args(["plugin", "new", "acme-stages", "--dir"])
        .arg(dir.path())
        .output()?;
    assert!(
        !again.status.success(),
        "an existing crate is not overwritten"
    );
    Ok(())
}
