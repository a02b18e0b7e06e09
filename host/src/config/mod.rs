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
mod limits;
mod locate;
mod resolve;
mod schedule;
mod schema_check;
#[cfg(test)]
mod schema_tests;
mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use files::{
    ConnectionsFile, CustomerEntityFile, CustomerFile, EntityFile, FieldEntry, FieldFile,
    IntegrationFile, ObjectFile, OwnerFile, OwnerUpdate, PluginFile, PolicyPair, Provider, RepAuth,
    RepMissing, UnknownRep, WebhookFile, Writer,
};
pub use limits::{Limits, LimitsFile};
pub(crate) use resolve::is_package_name;
pub use resolve::{CustomerConfig, EntityMapping, FieldMapping, PluginRef, entity_key};
pub use schedule::{Intervals, MIN_INTERVAL};
pub use schema_check::{SchemaProblem, check as check_schema};
pub use webhooks::{Webhook, WebhookSecret};

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
        let (set, errors) = Self::load_dir_partial(dir);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Loads what can be loaded of `dir`: every customer whose files are
    /// sound, and every error of the rest, so that a check reports the
    /// problems of all customers at once.
    pub fn load_dir_partial(dir: &Path) -> (Self, Vec<ConfigError>) {
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

        (Self { customers }, errors)
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

/// The schema snapshot of one customer that `conduit check` reads:
/// `DIR/schemas/CUSTOMER.json`, as `GET /v1/customers/CUSTOMER/schema`
/// answers it.
pub fn snapshot_path(dir: &Path, customer: &str) -> PathBuf {
    dir.join("schemas").join(format!("{customer}.json"))
}

/// What checking one customer against its snapshot found.
#[derive(Debug)]
pub enum SnapshotCheck {
    /// No snapshot for this customer: only the config's own rules ran.
    NoSnapshot,
    /// The snapshot was read; these problems were found in it.
    Checked {
        /// The snapshot's objects.
        objects: usize,
        /// Problems, each naming the file, line and key at fault.
        problems: Vec<ConfigError>,
    },
}

impl ConfigSet {
    /// Checks one customer's config against its snapshot under `dir`.
    pub fn check_snapshot(&self, dir: &Path, customer: &CustomerConfig) -> SnapshotCheck {
        let path = snapshot_path(dir, &customer.customer);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return SnapshotCheck::NoSnapshot,
            Err(e) => {
                let problems = vec![ConfigError::Read {
                    path,
                    message: e.to_string(),
                }];
                return SnapshotCheck::Checked {
                    objects: 0,
                    problems,
                };
            }
        };
        let schema: crate::schema::OrgSchema = match serde_json::from_str(&text) {
            Ok(schema) => schema,
            Err(e) => {
                let problems = vec![ConfigError::Syntax {
                    path,
                    line: e.line(),
                    column: e.column(),
                    message: format!("not a schema snapshot: {e}"),
                }];
                return SnapshotCheck::Checked {
                    objects: 0,
                    problems,
                };
            }
        };

        let integration = dir.join("integration.yaml");
        let integration_text = std::fs::read_to_string(&integration).unwrap_or_default();
        let customer_text = std::fs::read_to_string(&customer.source).unwrap_or_default();
        let problems = schema_check::check(customer, &schema)
            .into_iter()
            .map(|problem| {
                let (path, line, key) = locate_problem(
                    customer,
                    &problem,
                    (&customer.source, &customer_text),
                    (&integration, &integration_text),
                );
                ConfigError::Invalid {
                    path,
                    line,
                    key,
                    message: problem.message,
                }
            })
            .collect();
        SnapshotCheck::Checked {
            objects: schema.objects.len(),
            problems,
        }
    }
}

/// `conduit check DIR`: loads every config, checks each customer against
/// its snapshot where there is one, writes a line per customer to `out` and
/// every problem to `err`. True when nothing is wrong.
pub fn check_dir(dir: &Path, out: &mut impl std::io::Write, err: &mut impl std::io::Write) -> bool {
    let (set, errors) = ConfigSet::load_dir_partial(dir);
    for error in &errors {
        let _ = writeln!(err, "{error}");
    }

    let mut passed = errors.is_empty();
    for customer in set.customers() {
        let schema = match set.check_snapshot(dir, customer) {
            SnapshotCheck::NoSnapshot => format!(
                "schema not checked: no {}",
                snapshot_path(dir, &customer.customer).display()
            ),
            SnapshotCheck::Checked { objects, problems } if problems.is_empty() => {
                format!("schema: {objects} objects checked")
            }
            SnapshotCheck::Checked { problems, .. } => {
                passed = false;
                for problem in &problems {
                    let _ = writeln!(err, "{problem}");
                }
                continue;
            }
        };
        let activities = customer
            .entities
            .keys()
            .filter(|name| name.starts_with(crate::record::ACTIVITY_PREFIX))
            .count();
        let _ = writeln!(
            out,
            "ok  {} ({}, {} entities, {activities} activity kinds, config {}; {schema})",
            customer.customer,
            customer.provider,
            customer.entities.len() - activities,
            customer.version
        );
    }
    passed
}

/// The file, line and key a schema problem belongs to: the file that sets
/// the key (the customer's first, as it overrides), else the deepest part
/// of the key either file names.
fn locate_problem(
    config: &CustomerConfig,
    problem: &SchemaProblem,
    customer: (&Path, &str),
    integration: (&Path, &str),
) -> (PathBuf, Option<usize>, String) {
    let mut tail: Vec<String> = Vec::new();
    if let Some(field) = &problem.field {
        tail.push("fields".into());
        tail.push(field.clone());
    }
    if let Some(option) = &problem.option {
        tail.push(option.clone());
    }
    let entity = &problem.entity;
    let join = |head: String| {
        std::iter::once(head)
            .chain(tail.iter().cloned())
            .collect::<Vec<_>>()
            .join(".")
    };
    let customer_key = join(entity_key(entity));
    let integration_key = join(format!("{}.{}", entity_key(entity), config.provider));
    let in_customer = (customer.0.to_owned(), customer_key.clone());
    let in_integration = (integration.0.to_owned(), integration_key.clone());

    // A problem of the whole entity (a required field nothing maps) is the
    // integration's, unless the customer chose the object.
    if problem.field.is_none() && problem.option.is_none() {
        let object = format!("{}.object", entity_key(entity));
        if let Some(line) = locate::key_line(customer.1, &object) {
            return (customer.0.to_owned(), Some(line), object);
        }
        let line = locate::key_line(integration.1, &integration_key);
        return (integration.0.to_owned(), line, integration_key);
    }

    // The CRM field name may be written as the shorthand `name: Name`.
    let sets = |text: &str, key: &str| {
        locate::key_line(text, key).or_else(|| {
            let parent = key.strip_suffix(".field")?;
            locate::is_shorthand(text, parent).then(|| locate::key_line(text, parent))?
        })
    };
    if let Some(line) = sets(customer.1, &customer_key) {
        return (in_customer.0, Some(line), in_customer.1);
    }
    if let Some(line) = sets(integration.1, &integration_key) {
        return (in_integration.0, Some(line), in_integration.1);
    }

    let (c_depth, c_line) = deepest(customer.1, &customer_key);
    let (i_depth, i_line) = deepest(integration.1, &integration_key);
    // The integration key has one segment more (the provider) before the
    // same tail; compare how much of the tail each file names.
    if c_line.is_some() && c_depth.saturating_sub(2) >= i_depth.saturating_sub(3) {
        (in_customer.0, c_line, in_customer.1)
    } else if i_line.is_some() {
        (in_integration.0, i_line, in_integration.1)
    } else {
        (in_customer.0, None, in_customer.1)
    }
}

/// How many segments of `key` the file names, and the line of the deepest.
fn deepest(text: &str, key: &str) -> (usize, Option<usize>) {
    let segments: Vec<&str> = key.split('.').collect();
    for depth in (1..=segments.len()).rev() {
        if let Some(line) = locate::key_line(text, &segments[..depth].join(".")) {
            return (depth, Some(line));
        }
    }
    (0, None)
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

/// A customer's config loaded from YAML text (its customer file must say
/// `customer: acme`), for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn from_yaml(integration: &str, customer: &str) -> CustomerConfig {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("integration.yaml"), integration).expect("write integration");
    std::fs::create_dir(dir.path().join("customers")).expect("create customers/");
    std::fs::write(dir.path().join("customers/acme.yaml"), customer).expect("write customer");
    let set = ConfigSet::load_dir(dir.path()).unwrap_or_else(|e| panic!("loads:\n{e}"));
    set.customer("acme")
        .expect("customer acme")
        .as_ref()
        .clone()
}

#[cfg(test)]
mod tests;
