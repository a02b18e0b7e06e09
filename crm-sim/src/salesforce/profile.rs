//! What a simulated Salesforce org holds beyond the embedded describes: custom fields, users,
//! OAuth clients, the access-token lifetime, JWT bearer setup and the ownership rules.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use super::duplicates::DuplicateRule;
use super::security::FieldSecurity;
use super::validation::ValidationRule;
use crate::{Faults, OAuthClient};

/// The setup of a simulated Salesforce org, from [`Profile::default`] or a YAML file:
///
/// ```yaml
/// token_ttl_seconds: 7200
/// daily_api_requests: 15000
/// oauth_clients:
///   - client_id: conduit-demo
///     client_secret: demo-secret
///     refresh_token: sf-refresh-integration
/// rotate_refresh_tokens: false
/// jwt_keys:
///   - { client_id: conduit-demo, public_key: "-----BEGIN PUBLIC KEY-----\n..." }
/// preauthorized:
///   - { client_id: conduit-demo, username: ada@example.com }
/// users:
///   - { email: ada@example.com, first_name: Ada, last_name: Lovelace }
///   - { email: queue@example.com, first_name: Sales, last_name: Queue }
/// territory:
///   objects: [Account, Opportunity]
///   members: [ada@example.com]
///   reroute_to: queue@example.com
/// lead_assignment_owner: queue@example.com
/// custom_fields:
///   - { object: Opportunity, name: External_Id__c, type: string, length: 32,
///       unique: true, external_id: true }
///   - { object: Opportunity, name: Product__c, type: picklist, restricted: true,
///       values: [GTX Pro] }
///   - { object: Task, name: Activity_Subtype__c, type: picklist, restricted: true,
///       values: [Demo, Discovery] }
/// custom_objects:
///   - name: Sales_Activity__c
///     label: Sales Activity
///     fields:
///       - { name: Name, type: autonumber, display_format: "SA-{0000}" }
///       - { name: Contact__c, type: reference, reference_to: [Contact] }
///       - { name: Minutes__c, type: int }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Seconds an access token stays valid; 7200 (two hours, Salesforce's default session) if
    /// not set.
    #[serde(default = "default_ttl")]
    pub token_ttl_seconds: u64,
    /// The daily API request allocation; 15,000 if not set.
    #[serde(default = "default_api_requests")]
    pub daily_api_requests: u64,
    /// OAuth clients the token endpoint accepts; the first is the integration user's.
    pub oauth_clients: Vec<OAuthClient>,
    /// Users besides the integration user, who always exists.
    #[serde(default)]
    pub users: Vec<ProfileUser>,
    /// Whether each refresh answers a new refresh token and retires the one presented, as a
    /// connected app with refresh token rotation does. Off by default, as in Salesforce, where
    /// a refresh token is reused until revoked.
    #[serde(default)]
    pub rotate_refresh_tokens: bool,
    /// Public keys that verify each client's JWT bearer assertions; none by default, so the
    /// JWT bearer grant is refused until a key is registered.
    #[serde(default)]
    pub jwt_keys: Vec<JwtKey>,
    /// Users an admin pre-authorized for a client; JWT bearer refuses everyone else.
    #[serde(default)]
    pub preauthorized: Vec<Preauthorization>,
    /// A territory rule that takes records away from owners outside it; none by default.
    #[serde(default)]
    pub territory: Option<Territory>,
    /// The owner the active lead assignment rule gives every Lead created through the API
    /// (a user id or username); none by default, so Leads keep the owner they were sent with.
    #[serde(default)]
    pub lead_assignment_owner: Option<String>,
    /// Custom fields added to the built-in objects (Account, Contact, Lead, Opportunity,
    /// Event, Task) or to a custom object.
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    /// The org's own objects, each with Salesforce's standard fields and its custom ones.
    #[serde(default)]
    pub custom_objects: Vec<CustomObject>,
    /// Faults to inject; none by default.
    #[serde(default)]
    pub faults: Faults,
    /// Validation rules, refusing writes with their own messages; none by default.
    #[serde(default)]
    pub validation_rules: Vec<ValidationRule>,
    /// Field-level security per user; every user sees and writes every field by default.
    #[serde(default)]
    pub field_security: Vec<FieldSecurity>,
    /// Duplicate rules; none by default.
    #[serde(default)]
    pub duplicate_rules: Vec<DuplicateRule>,
}

/// A custom object: `Id`, `Name`, `OwnerId`, `IsDeleted` and the audit fields, plus `fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomObject {
    /// API name, ending in `__c`, e.g. `Sales_Activity__c`.
    pub name: String,
    /// Label; the name without `__c` and underscores if not set.
    #[serde(default)]
    pub label: Option<String>,
    /// Its fields, in the shape of `custom_fields` without `object`. A field named `Name`
    /// replaces the standard text name, e.g. with `type: autonumber`.
    #[serde(default)]
    pub fields: Vec<CustomField>,
}

/// A user seeded at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUser {
    /// Email, also used as the username.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// A public key registered on a connected app for JWT bearer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKey {
    /// The connected app's client id (the assertion's `iss`).
    pub client_id: String,
    /// The RSA public key, PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
    pub public_key: String,
}

/// A user pre-authorized for a connected app ("admin approved users are pre-authorized").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preauthorization {
    /// The connected app's client id.
    pub client_id: String,
    /// The user's username (email).
    pub username: String,
}

/// A territory rule: after an API create or update of a record of `objects`, an owner who is
/// not one of `members` loses the record to `reroute_to`. It is how a record the integration
/// user owns slips away from the rep it was written for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Territory {
    /// The objects the rule watches, e.g. `Account`.
    pub objects: Vec<String>,
    /// The users who may own those records: user ids or usernames.
    pub members: Vec<String>,
    /// Who gets records owned by anyone else: a user id or username.
    #[serde(alias = "rerouteTo")]
    pub reroute_to: String,
}

/// A custom field, rendered as a full describe field object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// The object it is on, e.g. `Opportunity`; left out inside `custom_objects`.
    #[serde(default)]
    pub object: String,
    /// API name, ending in `__c`.
    pub name: String,
    /// Label; the name without `__c` and underscores if not set.
    #[serde(default)]
    pub label: Option<String>,
    /// Describe type: `string`, `textarea`, `picklist`, `multipicklist`, `double`, `int`,
    /// `currency`, `percent`, `boolean`, `date`, `datetime`, `email`, `phone`, `url`,
    /// `reference` (a lookup, with `reference_to`) or `autonumber` (for `Name`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Maximum length of text types; 255 if not set.
    #[serde(default)]
    pub length: Option<u64>,
    /// Whether values must be unique (case-insensitively).
    #[serde(default)]
    pub unique: bool,
    /// Whether the field is an external id (an upsert key).
    #[serde(default)]
    pub external_id: bool,
    /// Whether a create must set it.
    #[serde(default)]
    pub required: bool,
    /// Whether picklist values outside `values` are refused.
    #[serde(default)]
    pub restricted: bool,
    /// Picklist values.
    #[serde(default)]
    pub values: Vec<String>,
    /// The objects a `reference` field points to, e.g. `[Contact]`.
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// The display format of an `autonumber`, e.g. `SA-{0000}`; `{0}` if not set.
    #[serde(default)]
    pub display_format: Option<String>,
}

fn default_ttl() -> u64 {
    7200
}

fn default_api_requests() -> u64 {
    15_000
}

impl Profile {
    /// Reads a profile from a YAML file.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read salesforce profile `{}`", path.display()))?;
        Self::from_yaml_str(&text)
            .with_context(|| format!("invalid salesforce profile `{}`", path.display()))
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
    /// The demo org: the conduit-demo client, and the custom fields the demo data needs.
    fn default() -> Self {
        let external_id = |object: &str| CustomField {
            object: object.to_owned(),
            name: "External_Id__c".to_owned(),
            label: Some("External Id".to_owned()),
            kind: "string".to_owned(),
            length: Some(32),
            unique: true,
            external_id: true,
            required: false,
            restricted: false,
            values: Vec::new(),
            reference_to: Vec::new(),
            display_format: None,
        };
        let products = [
            "GTX Basic",
            "GTX Pro",
            "MG Special",
            "MG Advanced",
            "GTX Plus Basic",
        ]
        .into_iter()
        .chain(["GTX Plus Pro", "GTK 500"])
        .map(str::to_owned)
        .collect();
        Self {
            token_ttl_seconds: default_ttl(),
            daily_api_requests: default_api_requests(),
            oauth_clients: vec![OAuthClient {
                client_id: "conduit-demo".to_owned(),
                client_secret: "demo-secret".to_owned(),
                refresh_token: "sf-refresh-integration".to_owned(),
            }],
            users: Vec::new(),
            rotate_refresh_tokens: false,
            jwt_keys: Vec::new(),
            preauthorized: Vec::new(),
            territory: None,
            lead_assignment_owner: None,
            custom_fields: vec![
                external_id("Opportunity"),
                CustomField {
                    object: "Opportunity".to_owned(),
                    name: "Product__c".to_owned(),
                    label: Some("Product".to_owned()),
                    kind: "picklist".to_owned(),
                    length: Some(255),
                    unique: false,
                    external_id: false,
                    required: false,
                    restricted: true,
                    values: products,
                    reference_to: Vec::new(),
                    display_format: None,
                },
                external_id("Account"),
            ],
            custom_objects: Vec::new(),
            faults: Faults::default(),
            validation_rules: Vec::new(),
            field_security: Vec::new(),
            duplicate_rules: Vec::new(),
        }
        .with_demo_activities()
    }
}

/// Custom fields and objects to add to a profile, in a profile's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Additions {
    #[serde(default)]
    custom_fields: Vec<CustomField>,
    #[serde(default)]
    custom_objects: Vec<CustomObject>,
}

impl Profile {
    /// The profile with the demo org's activity setup: `Conduit_Key__c` on Task and Event,
    /// a subtype picklist on Task and a `Sales_Activity__c` object
    /// (`profiles/salesforce-activities.yaml`).
    fn with_demo_activities(mut self) -> Self {
        const ACTIVITIES: &str = include_str!("../../profiles/salesforce-activities.yaml");
        match serde_yaml::from_str::<Additions>(ACTIVITIES) {
            Ok(additions) => {
                self.custom_fields.extend(additions.custom_fields);
                self.custom_objects.extend(additions.custom_objects);
            }
            // Embedded and covered by the simulator's tests: only an edit to the file gets here.
            Err(e) => tracing::error!(error = %e, "the embedded activity profile does not parse"),
        }
        self
    }
}
