//! The customer's effective configuration: the integration's defaults with
//! the customer's overrides merged over them.
//!
//! Configs live in a directory the vendor keeps in git:
//!
//! ```text
//! integration.yaml        entities, their CRM mappings, export defaults
//! customers/NAME.yaml     one customer's CRM, overrides and plugin
//! ```
//!
//! Export policy precedence, lowest first: the built-in default (create
//! `overwrite`, update `fill_if_empty`), the integration's `export`, the
//! entity's `export`, the field's own setting, then the customer's `export`,
//! the customer's entity `export`, and the customer's field setting.

mod files;
mod locate;
mod resolve;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use files::{
    CustomerEntityFile, CustomerFile, EntityFile, FieldEntry, FieldFile, IntegrationFile,
    ObjectFile, OwnerFile, PluginFile, PolicyPair, Provider, UnknownRep,
};
pub use resolve::{CustomerConfig, EntityMapping, FieldMapping, PluginRef};

/// One problem found in a config file, naming the file and where in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read file: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The YAML does not parse into the expected shape (unknown key, wrong
    /// type, bad syntax).
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, with the key path as serde_yaml reports it.
        message: String,
    },
    /// The file parses but says something inconsistent.
    #[error("{path}{}: `{key}`: {message}", at_line(.line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key, when it could be found in the file's
        /// text: the key may come from another file, or be written in a
        /// form the search does not follow.
        line: Option<usize>,
        /// Dotted path of the offending key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `:LINE` after the path when the line is known, so an editor can jump to
/// it as it does for a syntax error.
fn at_line(line: &Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

impl ConfigError {
    /// Adds the line of an `Invalid` error's key, found in the text of the
    /// file it names; the error is unchanged if the key is not found.
    fn located(self, text: &str) -> Self {
        match self {
            ConfigError::Invalid {
                path,
                line: None,
                key,
                message,
            } => ConfigError::Invalid {
                path,
                line: locate::key_line(text, &key),
                key,
                message,
            },
            other => other,
        }
    }
}

/// Every problem found while loading a config directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// All customers' effective configs, loaded from one directory.
#[derive(Debug, Clone, Default)]
pub struct ConfigSet {
    customers: BTreeMap<String, Arc<CustomerConfig>>,
}

impl ConfigSet {
    /// Loads `dir/integration.yaml` and every `dir/customers/*.yaml`,
    /// collecting every error rather than stopping at the first.
    pub fn load_dir(dir: &Path) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();

        let integration_path = dir.join("integration.yaml");
        let integration_text = read(&integration_path, &mut errors);
        let integration: Option<IntegrationFile> = integration_text
            .as_deref()
            .and_then(|t| parse(&integration_path, t, &mut errors));

        let mut customer_paths = Vec::new();
        match std::fs::read_dir(dir.join("customers")) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                        customer_paths.push(path);
                    }
                }
            }
            Err(e) => errors.push(ConfigError::Read {
                path: dir.join("customers"),
                message: e.to_string(),
            }),
        }
        customer_paths.sort();

        let mut customers = BTreeMap::new();
        for path in customer_paths {
            let Some(text) = read(&path, &mut errors) else {
                continue;
            };
            let Some(file) = parse::<CustomerFile>(&path, &text, &mut errors) else {
                continue;
            };
            let Some(integration) = &integration else {
                continue;
            };

            let version = content_version(integration_text.as_deref().unwrap_or(""), &text);
            match resolve::resolve(integration, &file, &path, version) {
                Ok(config) => {
                    if customers.contains_key(&config.customer) {
                        let error = ConfigError::Invalid {
                            path: path.clone(),
                            line: None,
                            key: "customer".into(),
                            message: format!("customer `{}` is defined twice", config.customer),
                        };
                        errors.push(error.located(&text));
                        continue;
                    }
                    customers.insert(config.customer.clone(), Arc::new(config));
                }
                Err(found) => errors.extend(found.into_iter().map(|e| e.located(&text))),
            }
        }

        if errors.is_empty() {
            Ok(Self { customers })
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The effective config of one customer.
    pub fn customer(&self, customer: &str) -> Option<Arc<CustomerConfig>> {
        self.customers.get(customer).cloned()
    }

    /// Every customer's effective config, by customer id.
    pub fn customers(&self) -> impl Iterator<Item = &Arc<CustomerConfig>> {
        self.customers.values()
    }
}

fn read(path: &Path, errors: &mut Vec<ConfigError>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            errors.push(ConfigError::Read {
                path: path.to_owned(),
                message: e.to_string(),
            });
            None
        }
    }
}

/// Parses one YAML file, turning serde_yaml's error into one that names the
/// file, the line and the key.
fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_yaml::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let message = e.to_string();
            // serde_yaml appends " at line L column C"; the location is
            // already in front, so drop the repeat.
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_owned(),
                None => message,
            };
            errors.push(ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message,
            });
            None
        }
    }
}

/// A short content hash of the files a customer's config came from, so the
/// audit can say which config version made a decision.
fn content_version(integration: &str, customer: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(integration.as_bytes());
    hasher.update([0]);
    hasher.update(customer.as_bytes());
    hex::encode(&hasher.finalize()[..6])
}

#[cfg(test)]
mod tests;
