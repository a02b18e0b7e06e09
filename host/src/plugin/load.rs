//! Loading a plugin: compile once per content hash (in memory, and on disk
//! when a cache directory is set), check what it imports, and prepare it for
//! cheap instantiation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::PluginPre;
use super::error::{PluginLoadError, to_anyhow};
use super::instance::Plugin;
use super::runtime::PluginRuntime;

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Released contract versions and the sha256 of `wit/plugin.wit` as each
/// was released. A released version is frozen: a change to the file is an
/// addition under a new version (and a new line here), never an edit of a
/// version plugins were built against.
pub const RELEASED_CONTRACTS: &[(&str, &str)] = &[(
    "0.1.0",
    "37fec13acba66befef9d428759a7a5317728e56db342f456c575cf3e3ca997bd",
)];

/// The WASI packages a guest may import. A Rust guest pulls in `cli`, `io`
/// and `clocks` even when unused; all are linked to a context that grants
/// nothing. `filesystem` and `sockets` are refused outright: a plugin that
/// imports them was written to reach files or the network, and is refused
/// before it runs rather than left to fail at run time. (A Python guest is
/// built with `componentize-py --stub-wasi`, which imports no WASI at all.)
const WASI_PACKAGES: [&str; 4] = ["cli", "io", "clocks", "random"];

/// The contract interfaces a guest may import.
const CONTRACT_IMPORTS: [&str; 2] = ["host", "types"];

/// Where a loaded plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledFrom {
    /// Compiled from the component's bytes by this call.
    Compiled,
    /// The runtime had compiled the same bytes before.
    Memory,
    /// Read from the cache directory, compiled by an earlier process.
    Disk,
}

impl PluginRuntime {
    /// Loads a plugin component: compiles it (once per content hash), checks
    /// that it imports only conduit's `host` interface and WASI, and prepares
    /// it for instantiation. `name` and `version` label errors and logs.
    pub fn load(
        &self,
        name: &str,
        version: &str,
        wasm: &[u8],
    ) -> Result<Arc<Plugin>, PluginLoadError> {
        let started = Instant::now();
        let hash = content_hash(wasm);
        let (component, from) =
            self.compiled(&hash, wasm)
                .map_err(|source| PluginLoadError::Compile {
                    plugin: name.into(),
                    version: version.into(),
                    source,
                })?;

        check_imports(&self.shared.engine, &component, name, version)?;

        let link_error = |source| PluginLoadError::Link {
            plugin: name.into(),
            version: version.into(),
            source,
        };
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(to_anyhow);
        let pre = pre.and_then(|pre| PluginPre::new(pre).map_err(to_anyhow));
        let pre = pre.map_err(link_error)?;

        tracing::info!(
            plugin = name,
            version,
            hash = %hash,
            from = ?from,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "plugin loaded"
        );
        let plugin = Plugin::new(self.clone(), name, version, hash, from, pre);
        Ok(Arc::new(plugin))
    }

    /// The compiled component for `wasm`: from memory, from the cache
    /// directory, or compiled now and cached in both.
    fn compiled(&self, hash: &str, wasm: &[u8]) -> anyhow::Result<(Component, CompiledFrom)> {
        let shared = &self.shared;
        let cached = shared
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned();
        if let Some(component) = cached {
            return Ok((component, CompiledFrom::Memory));
        }

        let path = shared
            .config
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{hash}.cwasm")));
        let from_disk = path
            .as_deref()
            .filter(|path| path.exists())
            .and_then(|path| {
                read_precompiled(&shared.engine, path)
                    .inspect_err(|error| {
                        tracing::warn!(path = %path.display(), error = %format!("{error:#}"),
                        "ignoring an unreadable precompiled plugin");
                    })
                    .ok()
            });
        let (component, from) = match from_disk {
            Some(component) => (component, CompiledFrom::Disk),
            None => {
                let component = Component::new(&shared.engine, wasm).map_err(to_anyhow)?;
                if let Some(path) = &path {
                    // A cache that cannot be written costs a compile on the
                    // next start, nothing more.
                    if let Err(error) = write_precompiled(&component, path) {
                        tracing::warn!(path = %path.display(), error = %format!("{error:#}"),
                            "failed to cache a compiled plugin");
                    }
                }
                (component, CompiledFrom::Compiled)
            }
        };

        let mut compiled = shared
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        compiled.insert(hash.to_owned(), component.clone());
        Ok((component, from))
    }
}

/// The sha256 of a component's bytes, in hex: the key of the compile cache
/// and of an uploaded version.
pub fn content_hash(wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Loads code this host compiled earlier from the cache directory.
fn read_precompiled(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: `deserialize_file` runs the file as native code. The file is one
    // this host wrote with `Component::serialize` into its own cache directory,
    // which only the host may write; wasmtime still checks that it was made by
    // a compatible engine and refuses it otherwise.
    #[allow(
        unsafe_code,
        reason = "loading our own precompiled cache; see SAFETY above"
    )]
    let component = unsafe { Component::deserialize_file(engine, path) };
    component
        .map_err(to_anyhow)
        .with_context(|| format!("failed to load `{}`", path.display()))
}

/// Writes compiled code to the cache, via a temporary file so a crash never
/// leaves a half-written `.cwasm` for the next start to load.
fn write_precompiled(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(to_anyhow)?;
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    std::fs::write(&partial, bytes)
        .with_context(|| format!("failed to write `{}`", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("failed to move to `{}`", path.display()))
}

/// Refuses a component that imports anything but conduit's contract and the
/// WASI packages in [`WASI_PACKAGES`], or that targets another contract
/// version.
fn check_imports(
    engine: &Engine,
    component: &Component,
    plugin: &str,
    version: &str,
) -> Result<(), PluginLoadError> {
    for (import, _) in component.component_type().imports(engine) {
        match classify_import(import) {
            Import::Allowed => {}
            Import::OtherContractVersion => {
                return Err(PluginLoadError::ContractVersion {
                    plugin: plugin.into(),
                    version: version.into(),
                    found: import.into(),
                    supported: CONTRACT_VERSION,
                });
            }
            Import::Forbidden => {
                return Err(PluginLoadError::ForbiddenImport {
                    plugin: plugin.into(),
                    version: version.into(),
                    import: import.into(),
                });
            }
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Import {
    Allowed,
    OtherContractVersion,
    Forbidden,
}

/// Sorts an import name such as `wasi:cli/environment@0.2.6`.
fn classify_import(import: &str) -> Import {
    let (path, version) = import.split_once('@').unwrap_or((import, ""));
    let Some((package, interface)) = path.split_once('/') else {
        return Import::Forbidden;
    };

    match package.split_once(':') {
        Some(("conduit", "plugin")) if CONTRACT_IMPORTS.contains(&interface) => {
            if contract_compatible(version) {
                Import::Allowed
            } else {
                Import::OtherContractVersion
            }
        }
        Some(("wasi", name)) if WASI_PACKAGES.contains(&name) && version.starts_with("0.2.") => {
            Import::Allowed
        }
        _ => Import::Forbidden,
    }
}

/// Whether a plugin built against contract `version` runs on this host:
/// the same compatibility line (the major version, or for `0.x` the minor,
/// as wasmtime links them) and not newer than [`CONTRACT_VERSION`]. Within
/// a line the contract only grows, so an older plugin finds every import it
/// names; a newer one may name what this host lacks.
pub fn contract_compatible(version: &str) -> bool {
    let (Some(found), Some(host)) = (semver(version), semver(CONTRACT_VERSION)) else {
        return false;
    };
    let line = |v: (u64, u64, u64)| if v.0 == 0 { (0, v.1) } else { (v.0, 0) };
    line(found) == line(host) && found <= host
}

/// `MAJOR.MINOR.PATCH`, without pre-release or build parts.
fn semver(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|part| part.parse::<u64>().ok());
    let parsed = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::{Import, classify_import, contract_compatible};

    #[test]
    fn older_versions_of_the_same_line_are_compatible_and_newer_are_not() {
        assert!(contract_compatible("0.1.0"));
        for newer_or_other in ["0.1.1", "0.2.0", "1.0.0", "0.0.9", "0.1", "x.y.z", ""] {
            assert!(!contract_compatible(newer_or_other), "{newer_or_other}");
        }
    }

    #[test]
    fn a_released_contract_is_frozen() {
        let wit = include_str!("../../../wit/plugin.wit");
        let version = wit
            .lines()
            .find_map(|line| line.strip_prefix("package conduit:plugin@"))
            .and_then(|rest| rest.strip_suffix(';'))
            .expect("the contract names its package");
        assert_eq!(
            version,
            super::CONTRACT_VERSION,
            "the host runs the contract it ships"
        );
        if let Some((_, hash)) = super::RELEASED_CONTRACTS
            .iter()
            .find(|(v, _)| *v == version)
        {
            assert_eq!(
                super::content_hash(wit.as_bytes()),
                *hash,
                "wit/plugin.wit changed, but conduit:plugin@{version} is released and frozen: \
                 add the change under a new version"
            );
        }
    }

    #[test]
    fn files_and_sockets_are_refused() {
        for import in [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:sockets/ip-name-lookup@0.2.6",
        ] {
            assert_eq!(classify_import(import), Import::Forbidden, "{import}");
        }
    }

    #[test]
    fn a_rust_guest_imports_are_allowed() {
        for import in [
            "conduit:plugin/types@0.1.0",
            "conduit:plugin/host@0.1.0",
            "wasi:cli/environment@0.2.6",
            "wasi:io/streams@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
        ] {
            assert_eq!(classify_import(import), Import::Allowed, "{import}");
        }
    }

    #[test]
    fn http_and_unknown_interfaces_are_refused() {
        for import in [
            "wasi:http/outgoing-handler@0.2.6",
            "evil:net/raw",
            "env",
            "wasi:cli/x",
        ] {
            assert_ne!(classify_import(import), Import::Allowed, "{import}");
        }
    }

    #[test]
    fn a_newer_contract_is_a_version_error() {
        let import = "conduit:plugin/host@0.2.0";
        assert_eq!(classify_import(import), Import::OtherContractVersion);
    }
}
