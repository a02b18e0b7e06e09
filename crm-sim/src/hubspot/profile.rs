//! What a simulated HubSpot portal holds beyond the embedded properties.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use super::limits::RateLimits;
use super::objects::AssociationLabel;
use super::schemas::CustomObjectSchema;
use crate::{Faults, OAuthClient};

/// The setup of a simulated HubSpot portal, from [`Profile::default`] or YAML:
///
/// ```yaml
/// token_ttl_seconds: 1800
/// oauth_clients:
///   - client_id: conduit-demo
///     client_secret: demo-secret
///     refresh_token: hs-refresh-integration
/// private_app_tokens: [pat-na1-demo]
/// owners:
///   - { email: ada@example.com, first_name: Ada, last_name: Lovelace }
/// rate_limits: { ten_secondly: 100, search_per_second: 5 }
/// faults: { latency_ms: 0, fail_next: 0, drop_next: 0, throttle_next: 0 }
/// custom_properties:
///   - { object_type: deals, name: external_id, label: External ID }
///   - { object_type: calls, name: activity_subtype, label: Activity subtype,
///       type: enumeration, options: [demo, discovery] }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Seconds an access token stays valid; 1800 (HubSpot's) if not set.
    #[serde(default = "default_ttl")]
    pub token_ttl_seconds: u64,
    /// OAuth clients the token endpoint accepts; the first is the integration's. Their
    /// refresh tokens act as the integration user.
    pub oauth_clients: Vec<OAuthClient>,
    /// Private app access tokens, accepted as bearer tokens acting as the integration user;
    /// they never expire. None by default.
    #[serde(default)]
    pub private_app_tokens: Vec<String>,
    /// Owners seeded at start.
    #[serde(default)]
    pub owners: Vec<ProfileOwner>,
    /// Custom properties on any object type, engagements included.
    #[serde(default)]
    pub custom_properties: Vec<CustomProperty>,
    /// The portal's own association labels (`USER_DEFINED` types); none by default.
    #[serde(default)]
    pub association_labels: Vec<AssociationLabel>,
    /// Custom objects with their schemas; none by default.
    #[serde(default)]
    pub custom_objects: Vec<CustomObjectSchema>,
    /// Rate limits per token; none by default.
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// Faults to inject; none by default.
    #[serde(default)]
    pub faults: Faults,
}

/// An owner seeded at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileOwner {
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// A custom property. Without `type` it is a unique single-line text property.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomProperty {
    /// The object type it is on: `deals`, `companies`, `contacts`, `calls`, `emails`,
    /// `meetings`, `notes`, `tasks` or a custom object; left out inside `custom_objects`.
    #[serde(default)]
    pub object_type: String,
    /// Internal name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `string`, `number`, `date`, `datetime`, `enumeration` or `bool`; `string` if not set.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// How HubSpot shows it (`text`, `select`, `checkbox`, ...); derived from `type` if not
    /// set. `checkbox` makes an enumeration take several `;`-separated options.
    #[serde(default)]
    pub field_type: Option<String>,
    /// The allowed values of an enumeration.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether values must be unique; true for a property declared without `type`.
    #[serde(default)]
    pub unique: Option<bool>,
}

fn default_ttl() -> u64 {
    1800
}

impl Profile {
    /// Reads a profile from a YAML file.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read hubspot profile `{}`", path.display()))?;
        Self::from_yaml_str(&text)
            .with_context(|| format!("invalid hubspot profile `{}`", path.display()))
    }

    /// Parses a profile from YAML text.
    pub fn from_yaml_str(text: &str) -> anyhow::Result<Self> {
        let profile: Self = serde_yaml::from_str(text).context("failed to parse profile yaml")?;
        anyhow::ensure!(
            !profile.oauth_clients.is_empty(),
            "a profile needs at least one oauth client"
        );
        Ok(profile)
    }
}

impl Default for Profile {
    /// The demo portal: the conduit-demo client, `external_id` on deals and companies,
    /// `conduit_key` (the unique property a create carries conduit's key in) on contacts,
    /// companies and deals, and the activity properties (see `with_demo_activities`).
    fn default() -> Self {
        let unique = |object_type: &str, name: &str, label: &str| CustomProperty {
            object_type: object_type.to_owned(),
            name: name.to_owned(),
            label: label.to_owned(),
            kind: None,
            field_type: None,
            options: Vec::new(),
            unique: None,
        };
        Self {
            token_ttl_seconds: default_ttl(),
            oauth_clients: vec![OAuthClient {
                client_id: "conduit-demo".to_owned(),
                client_secret: "demo-secret".to_owned(),
                refresh_token: "hs-refresh-integration".to_owned(),
            }],
            private_app_tokens: Vec::new(),
            owners: Vec::new(),
            custom_properties: vec![
                unique("deals", "external_id", "External ID"),
                unique("companies", "external_id", "External ID"),
                unique("contacts", "conduit_key", "Conduit key"),
                unique("companies", "conduit_key", "Conduit key"),
                unique("deals", "conduit_key", "Conduit key"),
            ],
            association_labels: Vec::new(),
            custom_objects: Vec::new(),
            rate_limits: RateLimits::default(),
            faults: Faults::default(),
        }
        .with_demo_activities()
    }
}

impl Profile {
    /// The portal with the demo's activity setup on every engagement: `conduit_key`, the
    /// unique property conduit keeps an activity's idempotency key in, and Soylent's
    /// `activity_subtype` enumeration.
    fn with_demo_activities(mut self) -> Self {
        for object_type in super::engagements::ENGAGEMENTS {
            self.custom_properties.push(CustomProperty {
                object_type: object_type.to_owned(),
                name: "conduit_key".to_owned(),
                label: "Conduit key".to_owned(),
                kind: None,
                field_type: None,
                options: Vec::new(),
                unique: None,
            });
            self.custom_properties.push(CustomProperty {
                object_type: object_type.to_owned(),
                name: "activity_subtype".to_owned(),
                label: "Activity subtype".to_owned(),
                kind: Some("enumeration".to_owned()),
                field_type: None,
                options: ["Discovery call", "Demo", "Negotiation", "Follow-up"]
                    .map(str::to_owned)
                    .to_vec(),
                unique: Some(false),
            });
        }
        self
    }
}
