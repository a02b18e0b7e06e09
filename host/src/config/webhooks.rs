//! A customer's webhooks, checked: a URL the host can send to, exactly one
//! source for the signing secret, entities the config maps, and sane retry
//! settings.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::ConfigError;
use super::files::WebhookFile;
use super::resolve::EntityMapping;

/// Attempts before a delivery is dead-lettered, unless the webhook says.
const MAX_ATTEMPTS: u32 = 8;
/// The wait before the first retry, unless the webhook says.
const FIRST_RETRY: Duration = Duration::from_secs(10);
/// The most attempts a webhook may ask for.
const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// The shortest first retry a webhook may ask for.
const MIN_FIRST_RETRY_MS: u64 = 10;

/// One receiver of the customer's changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Where each change is POSTed.
    pub url: String,
    /// What the signature is made with.
    pub secret: WebhookSecret,
    /// The entities whose changes it takes; none for all.
    pub entities: Option<Vec<String>>,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// The wait before the first retry; each later one doubles.
    pub first_retry: Duration,
}

/// Where a webhook's signing secret comes from.
#[derive(Clone, PartialEq)]
pub enum WebhookSecret {
    /// Written in the customer's file.
    Inline(String),
    /// Read from this environment variable when a change is sent, so that
    /// the file in git holds no secret.
    Env(String),
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookSecret::Inline(_) => f.write_str("Inline(<redacted>)"),
            WebhookSecret::Env(name) => write!(f, "Env({name})"),
        }
    }
}

impl WebhookSecret {
    /// The secret's bytes, or why there are none.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            WebhookSecret::Inline(secret) => Ok(secret.clone()),
            WebhookSecret::Env(name) => match std::env::var(name) {
                Ok(secret) if !secret.is_empty() => Ok(secret),
                _ => Err(format!(
                    "the webhook's secret is read from `{name}`, which is not set for the host"
                )),
            },
        }
    }
}

/// The customer's webhooks, or an error per problem found, each naming
/// its key (`webhooks.N.url`, ...).
pub(super) fn resolve(
    files: &[WebhookFile],
    entities: &BTreeMap<String, EntityMapping>,
    invalid: &dyn Fn(String, String) -> ConfigError,
    errors: &mut Vec<ConfigError>,
) -> Vec<Webhook> {
    let mut hooks = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let key = |name: &str| format!("webhooks.{i}.{name}");
        let before = errors.len();

        match url::Url::parse(&file.url) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {}
            _ => errors.push(invalid(
                key("url"),
                format!("`{}` is not an http:// or https:// URL", file.url),
            )),
        }
        let secret = match (&file.secret, &file.secret_env) {
            (Some(secret), None) if !secret.is_empty() => {
                Some(WebhookSecret::Inline(secret.clone()))
            }
            (None, Some(name)) if !name.is_empty() => Some(WebhookSecret::Env(name.clone())),
            (Some(_), Some(_)) => {
                errors.push(invalid(
                    key("secret"),
                    "give `secret` or `secret_env`, not both".into(),
                ));
                None
            }
            _ => {
                errors.push(invalid(
                    key("secret_env"),
                    "a webhook needs a signing secret: `secret_env` (the variable holding it) \
                     or `secret`"
                        .into(),
                ));
                None
            }
        };
        for entity in file.entities.iter().flatten() {
            if !entities.contains_key(entity) {
                let known: Vec<&str> = entities.keys().map(String::as_str).collect();
                errors.push(invalid(
                    key("entities"),
                    format!(
                        "entity `{entity}` is not mapped for this customer; mapped: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        match file.max_attempts {
            Some(0) => errors.push(invalid(
                key("max_attempts"),
                "at least one attempt is needed".into(),
            )),
            Some(n) if n > MAX_ATTEMPTS_LIMIT => errors.push(invalid(
                key("max_attempts"),
                format!(
                    "{n} attempts is more than {MAX_ATTEMPTS_LIMIT}: a receiver that is \
                     still down after that many hourly retries needs a person, not more tries"
                ),
            )),
            _ => {}
        }
        // Each wait doubles the one before: a first wait of zero stays zero,
        // and the delivery would be sent again in a tight loop.
        if file
            .first_retry_ms
            .is_some_and(|ms| ms < MIN_FIRST_RETRY_MS)
        {
            errors.push(invalid(
                key("first_retry_ms"),
                format!("the first retry waits at least {MIN_FIRST_RETRY_MS} ms"),
            ));
        }

        if let (Some(secret), true) = (secret, errors.len() == before) {
            hooks.push(Webhook {
                url: file.url.clone(),
                secret,
                entities: file.entities.clone(),
                max_attempts: file.max_attempts.unwrap_or(MAX_ATTEMPTS),
                first_retry: file
                    .first_retry_ms
                    .map_or(FIRST_RETRY, Duration::from_millis),
            });
        }
    }
    hooks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSet;

    const INTEGRATION: &str = "\
entities:
  company:
    salesforce:
      object: Account
      fields:
        name: Name
";

    fn load(webhooks: &str) -> Result<Vec<Webhook>, String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("integration.yaml"), INTEGRATION).expect("write");
        std::fs::create_dir(dir.path().join("customers")).expect("create customers/");
        let customer = format!("customer: acme\ncrm: salesforce\nwebhooks:\n{webhooks}");
        std::fs::write(dir.path().join("customers/acme.yaml"), customer).expect("write");
        match ConfigSet::load_dir(dir.path()) {
            Ok(set) => Ok(set.customer("acme").expect("acme").webhooks.clone()),
            Err(errors) => Err(errors.to_string()),
        }
    }

    #[test]
    fn a_webhook_reads_with_its_defaults() {
        let hooks = load("  - { url: 'https://hooks.example/c', secret_env: HOOK_SECRET }\n")
            .expect("loads");
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].secret, WebhookSecret::Env("HOOK_SECRET".into()));
        assert_eq!(hooks[0].max_attempts, MAX_ATTEMPTS);
        assert_eq!(hooks[0].first_retry, FIRST_RETRY);
        assert_eq!(hooks[0].entities, None);
    }

    #[test]
    fn each_problem_names_its_key() {
        let errors = load(
            "  - { url: 'ftp://x', secret: a, secret_env: B }\n  \
             - { url: 'https://ok.example', entities: [invoice] }\n",
        )
        .expect_err("refused");
        assert!(errors.contains("`webhooks.0.url`"), "{errors}");
        assert!(errors.contains("`webhooks.0.secret`"), "{errors}");
        assert!(errors.contains("`webhooks.1.secret_env`"), "{errors}");
        assert!(errors.contains("`webhooks.1.entities`"), "{errors}");
        assert!(
            errors.contains("entity `invoice` is not mapped"),
            "{errors}"
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let errors = load("  - { url: 'https://ok.example', secret: s, retries: 3 }\n")
            .expect_err("refused");
        assert!(errors.contains("retries"), "{errors}");
    }

    #[test]
    fn an_inline_secret_is_never_printed() {
        let secret = WebhookSecret::Inline("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn a_first_retry_of_zero_and_endless_attempts_are_refused() {
        let errors = load(
            "  - { url: 'https://ok.example', secret: s, first_retry_ms: 0, \
             max_attempts: 100000 }\n",
        )
        .expect_err("refused");
        assert!(errors.contains("`webhooks.0.first_retry_ms`"), "{errors}");
        assert!(errors.contains("`webhooks.0.max_attempts`"), "{errors}");
    }
}
