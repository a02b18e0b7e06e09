//! The plugin author's loop, behind `conduit plugin new | build | test |
//! push`: a crate from the SDK's template with a sample fixture, the
//! component with its fixture cases embedded, the cases run in the host's
//! own runtime with a readable diff, and the upload to a host.

mod template;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::lifecycle::fixtures::{self, Fixtures, Report};
use crate::lifecycle::section::{FIXTURES_SECTION, with_custom_section};
use crate::plugin::{PluginRuntime, RuntimeConfig, build_component};

/// The file of a plugin crate that holds its fixture cases.
pub const FIXTURES_FILE: &str = "fixtures.json";

/// The SDK of this checkout, which new crates depend on by path unless told
/// otherwise.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|root| root.join("plugin-sdk"))
        .unwrap_or_default()
}

/// Writes a new plugin crate `name` in `dir/name`, depending on the SDK at
/// `sdk`, and returns its directory. Refuses a directory that exists.
pub fn new_crate(dir: &Path, name: &str, sdk: &Path) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "`{}` exists already; choose another name or directory",
            root.display()
        );
    }
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("no plugin SDK at `{}` (pass --sdk)", sdk.display()))?;
    for (path, text) in template::files(name, &type_name(name), &sdk.to_string_lossy()) {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(root)
}

/// A plugin name as the host takes it: `[a-z0-9][a-z0-9_-]*`.
fn check_name(name: &str) -> anyhow::Result<()> {
    if !crate::config::is_package_name(name) || name.len() > 64 {
        bail!("a plugin name is `[a-z0-9][a-z0-9_-]*` in at most 64 characters, not `{name}`");
    }
    Ok(())
}

/// `acme-deal-stages` as a Rust type: `AcmeDealStages`.
fn type_name(name: &str) -> String {
    let words = name.split(['-', '_']).filter(|w| !w.is_empty());
    let mut type_name: String = words
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    if type_name.starts_with(|c: char| c.is_ascii_digit()) {
        type_name.insert_str(0, "Plugin");
    }
    type_name
}

/// A built plugin: its name, version and the component, fixtures inside.
#[derive(Debug, Clone)]
pub struct Built {
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: String,
    /// The component with its fixture cases embedded.
    pub wasm: Vec<u8>,
    /// The cases, when the crate has `fixtures.json`.
    pub fixtures: Option<Fixtures>,
    /// Where the component was written.
    pub path: PathBuf,
}

/// Builds the crate in `dir` for `wasm32-wasip2` into `target_dir`, embeds
/// its `fixtures.json` (checked first) and writes the result to
/// `target_dir/conduit/NAME-VERSION.wasm`.
pub fn build(dir: &Path, target_dir: &Path) -> anyhow::Result<Built> {
    // cargo runs in `dir`: a relative target directory must not move there.
    let target_dir = &std::path::absolute(target_dir)
        .with_context(|| format!("no such directory `{}`", target_dir.display()))?;
    let (name, version) = package(dir)?;
    let fixtures_path = dir.join(FIXTURES_FILE);
    let fixtures = match std::fs::read(&fixtures_path) {
        Ok(json) => Some((
            Fixtures::parse(&json).with_context(|| format!("in `{}`", fixtures_path.display()))?,
            json,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(format!("reading `{}`", fixtures_path.display())),
    };

    let component = build_component(dir, None, target_dir)?;
    let wasm =
        std::fs::read(&component).with_context(|| format!("reading `{}`", component.display()))?;
    let wasm = match &fixtures {
        Some((_, json)) => with_custom_section(&wasm, FIXTURES_SECTION, json),
        None => wasm,
    };
    let out = target_dir.join("conduit");
    std::fs::create_dir_all(&out).with_context(|| format!("creating `{}`", out.display()))?;
    let path = out.join(format!("{name}-{version}.wasm"));
    std::fs::write(&path, &wasm).with_context(|| format!("writing `{}`", path.display()))?;
    Ok(Built {
        name,
        version,
        wasm,
        fixtures: fixtures.map(|(fixtures, _)| fixtures),
        path,
    })
}

/// Runs the built plugin's fixture cases in the host's runtime, under the
/// limits and import checks a host applies.
pub fn test(built: &Built) -> anyhow::Result<Report> {
    let Some(cases) = &built.fixtures else {
        bail!("the crate has no `{FIXTURES_FILE}`: add cases for the host to run on upload");
    };
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let plugin = runtime.load(&built.name, &built.version, &built.wasm)?;
    Ok(fixtures::run(&plugin, cases))
}

/// Uploads the built plugin to the host at `base` (e.g.
/// `http://127.0.0.1:8080`) with `key`, and returns the host's answer.
pub async fn push(
    built: &Built,
    base: &str,
    key: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let url = format!(
        "{}/v1/plugins/{}/{}",
        base.trim_end_matches('/'),
        built.name,
        built.version
    );
    let mut request = reqwest::Client::new()
        .put(&url)
        .header("content-type", "application/wasm")
        .body(built.wasm.clone());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("uploading to {url}"))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        let detail = answer["detail"].as_str().unwrap_or_default();
        bail!("{url} answered {status} ({}): {detail}", answer["code"]);
    }
    Ok(answer)
}

/// The name and version of the package whose manifest is in `dir`.
fn package(dir: &Path) -> anyhow::Result<(String, String)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = dir.join("Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("failed to run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed for `{}`:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading `cargo metadata`")?;
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let own = packages.iter().find(|p| {
        p["manifest_path"]
            .as_str()
            .is_some_and(|path| Path::new(path) == manifest)
    });
    let own = own.with_context(|| format!("`{}` holds no package", manifest.display()))?;
    let field = |key: &str| {
        own[key]
            .as_str()
            .map(str::to_owned)
            .context("no package name")
    };
    Ok((field("name")?, field("version")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_become_rust_types() {
        assert_eq!(type_name("acme-deal-stages"), "AcmeDealStages");
        assert_eq!(type_name("x_y"), "XY");
        assert_eq!(type_name("9lives"), "Plugin9lives");
    }

    #[test]
    fn a_name_the_host_would_refuse_is_refused_here() {
        assert!(check_name("acme-stages").is_ok());
        for bad in ["Acme", "-x", "", "a b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_template_fixtures_are_valid() {
        let files = template::files("acme", "Acme", "/sdk");
        let (_, fixtures) = files
            .iter()
            .find(|(path, _)| *path == FIXTURES_FILE)
            .expect("the template has fixtures");
        assert_eq!(
            Fixtures::parse(fixtures.as_bytes())
                .map(|f| f.cases.len())
                .ok(),
            Some(2)
        );
    }
}
