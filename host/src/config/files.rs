//! The YAML files a vendor keeps in git: one for the integration's defaults,
//! one per customer for its overrides. Unknown keys are refused so a typo
//! never silently changes what gets written.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::limits::LimitsFile;
use crate::export::Policy;
use crate::record::ActivityKind;
use crate::schema::TooLong;

/// Which CRM a customer runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Salesforce, through its REST API.
    Salesforce,
    /// HubSpot, through its CRM v3 API.
    Hubspot,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Salesforce => "salesforce",
            Provider::Hubspot => "hubspot",
        })
    }
}

/// Export policies for one level (integration, entity, field, customer).
/// A missing policy falls through to the level below.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPair {
    /// The policy when the write creates the record.
    pub create: Option<Policy>,
    /// The policy when the write changes an existing record.
    pub update: Option<Policy>,
}

/// `integration.yaml`: what every customer starts from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationFile {
    /// Integration-wide export defaults.
    #[serde(default)]
    pub export: PolicyPair,
    /// Agent entities and how they map, per CRM.
    pub entities: BTreeMap<String, EntityFile>,
    /// Activity kinds and how each maps, per CRM, like an entity whose
    /// fields are the activity's (`subject`, `body`, `occurred_at`, ...).
    #[serde(default)]
    pub activities: BTreeMap<ActivityKind, EntityFile>,
    /// How much of each customer's CRM API allocation conduit may use.
    #[serde(default)]
    pub limits: LimitsFile,
    /// How often each periodic task runs for every customer, by task name:
    /// an interval such as `5m` or `1h`, or `off`.
    #[serde(default)]
    pub schedule: BTreeMap<String, String>,
}

/// One agent entity in the integration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityFile {
    /// Export defaults for this entity.
    #[serde(default)]
    pub export: PolicyPair,
    /// The mapping into Salesforce.
    pub salesforce: Option<ObjectFile>,
    /// The mapping into HubSpot.
    pub hubspot: Option<ObjectFile>,
}

/// How an agent entity maps onto one CRM object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectFile {
    /// The CRM object's API name, e.g. `Opportunity` or `deals`.
    pub object: Option<String>,
    /// The CRM field the agent's record key is matched against.
    #[serde(rename = "match")]
    pub match_field: Option<String>,
    /// Where the record's owner is written, and how the rep is found.
    pub owner: Option<OwnerFile>,
    /// A unique external-id field (Salesforce) or unique property (HubSpot)
    /// that every create carries conduit's key in, sent as an upsert on it:
    /// a create whose answer was lost is then found by a retry, not made
    /// twice.
    pub crm_key: Option<String>,
    /// Agent field name to CRM field.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldEntry>,
}

/// Owner attribution for one object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerFile {
    /// The CRM owner field: `OwnerId` or `hubspot_owner_id`.
    pub field: String,
    /// What to do when the rep is not a user of the org.
    #[serde(default)]
    pub unknown_rep: UnknownRep,
    /// The owner on update: `skip` (the default: the owner is set on
    /// create and then left to the CRM's people and rules) or `overwrite`
    /// (the rep the agent acts for becomes the owner).
    #[serde(default)]
    pub update: OwnerUpdate,
}

/// Whether an update may change a record's owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerUpdate {
    /// Never: the owner is set on create only.
    #[default]
    Skip,
    /// The rep in `acting_for` becomes the owner.
    Overwrite,
}

/// What to do when the rep the agent acts for is not found in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownRep {
    /// Fail the record: nothing is written under the wrong owner.
    #[default]
    Fail,
    /// Leave the owner to the CRM (the integration user).
    IntegrationUser,
}

/// One field mapping. Written either as the CRM field name alone
/// (`name: Name`) or as a map with options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    /// The CRM field's API name.
    pub field: Option<String>,
    /// Agent value to CRM value, for picklists and statuses. Keys compare
    /// ignoring case.
    pub values: Option<BTreeMap<String, String>>,
    /// Ask the customer's plugin to translate this status field.
    pub plugin: Option<bool>,
    /// The agent value names a record of this entity, by its key: the host
    /// finds it and links to it.
    pub reference: Option<String>,
    /// Used on create when the agent sends nothing.
    pub default: Option<serde_yaml::Value>,
    /// Export policy for this field.
    pub create: Option<Policy>,
    /// Export policy for this field on update.
    pub update: Option<Policy>,
    /// An explicit `null` or `""` from the agent clears the field on update
    /// (`null` in Salesforce, `""` in HubSpot). Without it an empty value is
    /// never sent: it cannot wipe what a person entered.
    pub clear: Option<bool>,
    /// The CRM value used when the agent's value is not one the field's
    /// picklist allows, instead of failing the record.
    pub fallback: Option<String>,
    /// What to do with text longer than the field takes.
    pub too_long: Option<TooLong>,
    /// Let a forward-only field (HubSpot `lifecyclestage`) move backwards:
    /// the host clears it, sets it, and reads it back.
    pub allow_regression: Option<bool>,
}

impl<'de> Deserialize<'de> for FieldEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

/// A field mapping as written: the shorthand `name: Name` or a full map.
#[derive(Debug, Clone)]
pub struct FieldEntry(pub FieldFile);

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CRM field name or a field mapping")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(FieldEntry(FieldFile {
            field: Some(name.to_owned()),
            ..FieldFile::default()
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let file = FieldFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FieldEntry(file))
    }
}

/// `customers/NAME.yaml`: one customer's CRM and overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerFile {
    /// The customer's id as used in the API path.
    pub customer: String,
    /// The CRM this customer runs on.
    pub crm: Provider,
    /// Customer-wide export overrides.
    #[serde(default)]
    pub export: PolicyPair,
    /// The customer's time zone (IANA name, e.g. `Europe/Berlin`): the day
    /// an instant falls on, for date fields, is the day there. UTC if unset.
    pub time_zone: Option<String>,
    /// Per-entity overrides, merged over the integration's mapping.
    #[serde(default)]
    pub entities: BTreeMap<String, CustomerEntityFile>,
    /// Per-activity-kind overrides: another object (a custom activity
    /// object), match field, owner or fields.
    #[serde(default)]
    pub activities: BTreeMap<ActivityKind, CustomerEntityFile>,
    /// The customer's mapping plugin, pinned to a version.
    pub plugin: Option<PluginFile>,
    /// Which connection writes each kind of operation.
    #[serde(default)]
    pub connections: ConnectionsFile,
    /// Intervals of periodic tasks for this customer, replacing the
    /// integration's one by one.
    #[serde(default)]
    pub schedule: BTreeMap<String, String>,
    /// Overrides of the integration's API limits.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Receivers of the customer's change feed, each change POSTed signed.
    #[serde(default)]
    pub webhooks: Vec<WebhookFile>,
}

/// One webhook: where changes go, the secret they are signed with, and
/// which entities' changes it takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// The receiver's URL (`https://`, or `http://` for a receiver on the
    /// same network).
    pub url: String,
    /// The signing secret itself; prefer `secret_env` outside tests.
    pub secret: Option<String>,
    /// The environment variable holding the signing secret, read when a
    /// change is sent.
    pub secret_env: Option<String>,
    /// The agent entities whose changes it takes; all when left out.
    pub entities: Option<Vec<String>>,
    /// Attempts before a delivery is dead-lettered (default 8).
    pub max_attempts: Option<u32>,
    /// The wait before the first retry, in milliseconds (default 10,000);
    /// each later wait doubles it, up to an hour.
    pub first_retry_ms: Option<u64>,
}

/// Whose connection writes: the org-wide integration user or the rep the
/// agent acts for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Writer {
    /// The org-wide connection.
    #[default]
    Org,
    /// The connection of the rep in `acting_for`.
    Rep,
}

/// What to do when the rep's connection is wanted and the rep has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepMissing {
    /// Write with the org-wide connection; a created record still gets the
    /// rep as owner, set explicitly.
    #[default]
    OrgWithOwner,
    /// Fail the record, saying the rep has not connected.
    Fail,
}

/// How a rep's connection is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepAuth {
    /// The rep's own OAuth grant, made through the authorization-code flow.
    #[default]
    Oauth,
    /// Salesforce's JWT bearer flow: the org's connected app acts as the
    /// rep, who is pre-authorised for it, without a grant of the rep's own.
    Jwt,
}

/// `connections:` in a customer file: which connection writes what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsFile {
    /// Creating records.
    pub create_record: Option<Writer>,
    /// Updating records, other than their stage.
    pub update_record: Option<Writer>,
    /// Updates that change a status field (one with `values` or `plugin`).
    pub update_stage: Option<Writer>,
    /// Writing activities (Salesforce Task and Event, HubSpot engagements).
    pub log_activity: Option<Writer>,
    /// When the rep has not connected.
    #[serde(default)]
    pub rep_missing: RepMissing,
    /// How reps connect.
    #[serde(default)]
    pub rep_auth: RepAuth,
    /// Let Salesforce's lead and case assignment rules run on writes.
    #[serde(default)]
    pub assignment_rules: bool,
}

/// One entity's overrides in a customer file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerEntityFile {
    /// Export overrides for this entity.
    #[serde(default)]
    pub export: PolicyPair,
    /// A different CRM object than the integration's default.
    pub object: Option<String>,
    /// A different match field.
    #[serde(rename = "match")]
    pub match_field: Option<String>,
    /// A different owner rule.
    pub owner: Option<OwnerFile>,
    /// A different field for conduit's key on create (see
    /// [`ObjectFile::crm_key`]).
    pub crm_key: Option<String>,
    /// Field overrides; options given here replace the integration's.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldEntry>,
    /// Agent fields this customer does not map at all.
    #[serde(default)]
    pub unmapped: Vec<String>,
}

/// The plugin a customer runs, and its settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginFile {
    /// The plugin's package name.
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// Values the plugin reads through the `setting` import.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_yaml::Value>,
}
