//! Building a plugin crate of this workspace into a component, for the demo,
//! the tests and the benchmarks. Nothing prebuilt is committed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// The target plugins are built for.
const TARGET: &str = "wasm32-wasip2";

/// Builds the workspace package `package` for `wasm32-wasip2` in release
/// mode and returns the path of its `.wasm` component.
///
/// It builds in `<workspace_root>/target/wasm`, a target directory of its
/// own, so it never waits on the lock of the cargo that runs the caller.
/// Debug info is left out: it would only make the component bigger.
pub fn build_plugin(workspace_root: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let target_dir = workspace_root.join("target").join("wasm");
    build_component(workspace_root, Some(package), &target_dir)
}

/// Builds the crate in `dir` (or its workspace's package `package`) for
/// `wasm32-wasip2` in release mode into `target_dir`, and returns the path
/// of the `.wasm` component.
pub fn build_component(
    dir: &Path,
    package: Option<&str>,
    target_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(dir).args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(package) = package {
        command.args(["-p", package]);
    }
    let package = package.map_or_else(|| dir.display().to_string(), str::to_owned);
    let output = command
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .output()
        .with_context(|| format!("failed to run cargo to build plugin `{package}`"))?;

    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("failed to build plugin `{package}` for {TARGET}:\n{stderr}");
    }

    // cargo prints one JSON message per artifact; the package's own is the
    // only one with a `.wasm` file, its dependencies being rlibs.
    let wasm = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let files = message["filenames"].as_array()?.clone();
            let wasm = files
                .iter()
                .filter_map(|file| file.as_str())
                .find(|f| f.ends_with(".wasm"));
            wasm.map(PathBuf::from)
        })
        .next_back();
    wasm.with_context(|| format!("cargo built plugin `{package}` but reported no `.wasm` file"))
}
