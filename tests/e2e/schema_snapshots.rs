//! The schema snapshots `conduit check` reads are what the host discovers:
//! the committed `examples/schemas/*.json` must equal what
//! `GET /v1/customers/{customer}/schema` answers against the simulators.
//!
//! After a deliberate change to the simulated orgs, run this test with
//! `CONDUIT_UPDATE_SNAPSHOTS=1` to write the snapshots again.

use anyhow::Context;
use serde_json::Value;

use conduit_host::config::{check_dir, snapshot_path};
use conduit_tests::{Harness, examples_dir};

async fn served_schema(harness: &Harness, customer: &str) -> anyhow::Result<Value> {
    let path = format!("/v1/customers/{customer}/schema");
    let response = harness.request(reqwest::Method::GET, &path).send().await?;
    let answer: Value = response.error_for_status()?.json().await?;
    Ok(answer)
}

#[tokio::test]
async fn the_example_snapshots_are_what_the_host_discovers() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let update = std::env::var_os("CONDUIT_UPDATE_SNAPSHOTS").is_some();

    for customer in ["acme", "globex", "northwind", "soylent", "vandelay"] {
        let answer = served_schema(&harness, customer).await?;
        assert_eq!(
            answer["problems"],
            serde_json::json!([]),
            "{customer}: {answer}"
        );
        assert!(answer["read_at"].is_string(), "{answer}");
        let snapshot = serde_json::json!({
            "objects": answer["objects"],
            "catalog": answer["catalog"],
        });

        let path = snapshot_path(&examples_dir(), customer);
        if update {
            let text = serde_json::to_string_pretty(&snapshot)? + "\n";
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}; CONDUIT_UPDATE_SNAPSHOTS=1 writes it",
                path.display()
            )
        })?;
        let committed: Value = serde_json::from_str(&text)?;
        assert!(
            committed == snapshot,
            "{} differs from what the host discovers; if the simulated org changed on \
             purpose, run this test with CONDUIT_UPDATE_SNAPSHOTS=1",
            path.display()
        );
    }
    Ok(())
}

#[tokio::test]
async fn conduit_check_passes_the_examples_and_refuses_a_broken_mapping() -> anyhow::Result<()> {
    let examples = examples_dir();
    let (passed, out, err) = check(&examples);
    assert!(passed, "{out}{err}");
    assert!(
        out.contains("ok  northwind") && out.contains("schema: 5 objects checked"),
        "{out}"
    );
    assert!(out.contains("ok  globex"), "{out}");

    // The same configs with a label where Northwind's API name belongs.
    let dir = tempfile::tempdir()?;
    copy_tree(
        &examples,
        dir.path(),
        &["integration.yaml", "customers", "schemas"],
    )?;
    let customer = dir.path().join("customers/northwind.yaml");
    let text = std::fs::read_to_string(&customer)?.replace(
        "      close_date:\n",
        "      close_date:\n        field: Close Date\n",
    );
    std::fs::write(&customer, text)?;
    // And an error in another customer's file, which must not hide it.
    let globex = dir.path().join("customers/globex.yaml");
    let text = std::fs::read_to_string(&globex)?.replace("version: 0.1.0", "version: one");
    std::fs::write(&globex, text)?;

    let (passed, _, err) = check(dir.path());
    assert!(!passed, "a broken mapping must fail the check");
    assert!(
        err.contains("globex.yaml:") && err.contains("`plugin.version`"),
        "{err}"
    );
    assert!(
        err.contains("northwind.yaml:")
            && err.contains("`entities.deal.fields.close_date.field`")
            && err.contains("is the label of `CloseDate`"),
        "{err}"
    );
    Ok(())
}

/// `conduit check DIR`: whether it passed, what it printed, what it
/// reported.
fn check(dir: &std::path::Path) -> (bool, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let passed = check_dir(dir, &mut out, &mut err);
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (passed, text(out), text(err))
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path, names: &[&str]) -> anyhow::Result<()> {
    for name in names {
        let source = from.join(name);
        if source.is_dir() {
            std::fs::create_dir_all(to.join(name))?;
            for entry in std::fs::read_dir(&source)? {
                let entry = entry?;
                std::fs::copy(entry.path(), to.join(name).join(entry.file_name()))?;
            }
        } else {
            std::fs::copy(&source, to.join(name))?;
        }
    }
    Ok(())
}
