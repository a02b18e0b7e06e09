//! The contract is language-neutral: Globex's deal stage plugin written in
//! Python (`plugins/globex-deal-stages-py`), built with `componentize-py`
//! from PyPI, passes the fixture cases of its Rust twin in the host's
//! runtime, is accepted at upload importing nothing but conduit's host
//! interface, and places a deal on the simulated HubSpot as the Rust one
//! does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use conduit_host::lifecycle::fixtures::{self, Fixtures};
use conduit_host::plugin::{PluginRuntime, RuntimeConfig};
use conduit_tests::{Harness, config_with_customer, results, with_fixtures, workspace_root};

/// The componentize-py release the test setup installs.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

const REP: &str = "anna.snelling@globex.example";

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// componentize-py in a virtual environment under `target/`, installed
/// from PyPI on first use.
fn componentize_py(target: &Path) -> anyhow::Result<PathBuf> {
    let venv = target.join("venv");
    let tool = venv.join("bin").join("componentize-py");
    if tool.exists() {
        return Ok(tool);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    let pip = venv.join("bin").join("pip");
    run(Command::new(pip).args(["install", "--quiet", COMPONENTIZE_PY]))?;
    Ok(tool)
}

/// The Python plugin's component, built once per test run.
fn python_component() -> anyhow::Result<Vec<u8>> {
    let root = workspace_root();
    let target = root.join("target").join("python-plugin");
    std::fs::create_dir_all(&target)?;
    let tool = componentize_py(&target)?;
    let out = target.join("globex_deal_stages_py.wasm");
    run(Command::new(tool)
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "plugin", "componentize", "--stub-wasi"])
        .arg("-p")
        .arg(root.join("plugins").join("globex-deal-stages-py"))
        .args(["app", "-o"])
        .arg(&out))?;
    Ok(std::fs::read(&out)?)
}

fn rust_twin_fixtures() -> anyhow::Result<(Value, Fixtures)> {
    let path = workspace_root().join("plugins/globex-deal-stages/fixtures.json");
    let json = std::fs::read(&path)?;
    Ok((serde_json::from_slice(&json)?, Fixtures::parse(&json)?))
}

#[tokio::test]
async fn a_python_plugin_passes_the_cases_of_its_rust_twin() -> anyhow::Result<()> {
    let wasm = python_component()?;
    let (json, cases) = rust_twin_fixtures()?;

    // 1. The same cases, in the host's runtime under its default limits.
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let plugin = runtime.load("globex-deal-stages-py", "0.1.0", &wasm)?;
    let report = tokio::task::spawn_blocking(move || fixtures::run(&plugin, &cases)).await?;
    assert!(report.all_passed(), "{}", report.render());
    assert_eq!(report.passed, 10);

    // 2. Uploaded, vetted and run behind the API for a customer.
    let config = config_with_customer(
        "globex",
        &std::fs::read_to_string(workspace_root().join("examples/customers/globex.yaml"))?
            .replace("name: globex-deal-stages", "name: globex-deal-stages-py"),
    )?;
    let harness = Harness::start_without_plugins(config.path()).await?;
    harness.hubspot.org.add_owner(REP, "Anna", "Snelling");
    let upload = harness
        .request(Method::PUT, "/v1/plugins/globex-deal-stages-py/0.1.0")
        .body(with_fixtures(&wasm, &json));
    let response = upload.send().await?;
    let status = response.status();
    let uploaded: Value = response.json().await?;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["fixtures"]["passed"], 10, "{uploaded}");

    let deal = json!({ "entity": "deal", "operation": "upsert", "key": "PY1", "acting_for": REP,
                       "fields": { "name": "GTXPro deal", "product": "GTXPro",
                                   "stage": "Engaging" } });
    let answer = harness.write("globex", json!([deal])).await?;
    assert_eq!(results(&answer)[0]["status"], "created", "{answer}");
    let deals = harness.hubspot.org.records("deals");
    assert_eq!(deals[0].properties["dealstage"], "decisionmakerboughtin");
    Ok(())
}
