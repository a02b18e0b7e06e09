//! The OpenAPI document's frame (title, security scheme, tags) and the
//! schemas of bodies that handlers parse by hand, key by key, to name the
//! key at fault. Every path in the document comes from a handler's own
//! `#[utoipa::path]`, registered with the route itself.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's frame; `paths` are added as routes are registered.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "conduit",
        description = "Safe, configurable CRM writes for AI sales agents: write intents in, \
                       per-record results with every field decision out.",
    ),
    modifiers(&BearerKey),
    tags(
        (name = "writes", description = "Write intents and their per-record results"),
        (name = "customers", description = "Connections, schemas and audits of customers"),
        (name = "plugins", description = "Per-customer plugin components"),
        (name = "keys", description = "API keys with roles, managed by admins"),
        (name = "reads", description = "Changes read from the CRM: the feed, read progress and \
            webhook deliveries. Webhooks are signed: `Conduit-Signature` is `v1=` and the hex \
            HMAC-SHA256, keyed with the webhook's secret, of `Conduit-Timestamp` (Unix \
            seconds), a `.`, and the raw body"),
        (name = "dashboard", description = "What CS sees of a customer's writes"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub(super) struct ApiDoc;

/// Declares the `bearer` scheme the `/v1` routes require.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A key from `POST /v1/keys` or `conduit key create`, or the \
                         host's own admin key (`CONDUIT_API_KEY`); not required when \
                         the host has neither.",
                    ))
                    .build(),
            ),
        );
    }
}

/// `POST /v1/customers/{customer}/writes`.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct WriteRequest {
    /// Write intents; each succeeds or fails on its own. Records and
    /// activities together: at most 1,000; more go to a job
    /// (`POST /v1/customers/{customer}/jobs`).
    records: Option<Vec<WriteIntent>>,
    /// Activities to log, each in the customer's own pattern. An activity
    /// relating to a record of `records` is written after it.
    activities: Option<Vec<ActivityIntent>>,
    /// Plan every record and write nothing.
    #[schema(default = false)]
    dry_run: Option<bool>,
}

/// `POST /v1/customers/{customer}/jobs`: a write request too large to wait
/// for, or one the agent prefers not to wait on. Up to 1,000 records, a
/// write answers in the same request; a job takes up to 100,000 (64 MiB),
/// answers `202` at once and runs in the background: poll the job, page its
/// results, or ask for a record's outcome by its idempotency key.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct JobRequest {
    /// Write intents; each succeeds or fails on its own.
    records: Option<Vec<WriteIntent>>,
    /// Activities to log; positions in the job follow the records.
    activities: Option<Vec<ActivityIntent>>,
}

/// One write intent.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct WriteIntent {
    /// The agent entity: `company`, `deal`, … as the config names them.
    entity: String,
    /// `create`, `update` or `upsert`.
    #[schema(example = "upsert")]
    operation: String,
    /// The record's key, matched against the entity's `match` field.
    key: Option<String>,
    /// The agent's fields: text, numbers, booleans, dates as `YYYY-MM-DD`.
    #[schema(value_type = Object)]
    fields: BTreeMap<String, serde_json::Value>,
    /// The email of the rep the agent acts for.
    acting_for: Option<String>,
    /// Sent again with the same record, answers the first outcome.
    idempotency_key: Option<String>,
}

/// One activity: a call, email, meeting, task or note.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct ActivityIntent {
    /// `call`, `email`, `meeting`, `task` or `note`.
    #[schema(example = "call")]
    kind: String,
    /// The customer's finer category, e.g. `discovery call`.
    subtype: Option<String>,
    /// One-line summary.
    subject: Option<String>,
    /// Notes, transcript summary or email body.
    body: Option<String>,
    /// When it happened, RFC 3339 with an offset; a task's due time.
    #[schema(example = "2024-05-01T13:00:00Z")]
    occurred_at: String,
    /// Length in seconds, for calls and meetings.
    duration_seconds: Option<u32>,
    /// `inbound` or `outbound`.
    direction: Option<String>,
    /// The result, e.g. `connected` or `left voicemail`.
    outcome: Option<String>,
    /// The records it relates to.
    related: Option<Vec<RelatedRecord>>,
    /// The email of the rep the agent acts for: the activity's owner.
    acting_for: Option<String>,
    /// Required. Sent again with the same activity, answers the first
    /// outcome; where the activity object has a key field, a create whose
    /// answer was lost is found in the CRM instead of made twice.
    idempotency_key: String,
    /// Further agent fields, mapped through the activity's config.
    #[schema(value_type = Object)]
    fields: Option<BTreeMap<String, serde_json::Value>>,
}

/// A record an activity relates to, by exactly one of `id`, `key` or
/// `email`.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct RelatedRecord {
    /// The agent entity: `contact`, `company`, `deal`, ….
    entity: String,
    /// The record's CRM id.
    id: Option<String>,
    /// The record's key (the entity's match field).
    key: Option<String>,
    /// The record's email (contacts and leads).
    email: Option<String>,
}

/// The answer to a write request.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct WriteAnswer {
    /// One per record, in order: `index`, `status`, `crm_id`, per-field
    /// `fields` decisions, `unmapped`, `associations`, and `error` (a
    /// per-record problem with the CRM's own code and message; a record
    /// refused by the customer's API limit has code `crm_limit_reached`,
    /// `retryable: true` and `retry_at`, the RFC 3339 time a retry can
    /// help).
    #[schema(value_type = Vec<Object>)]
    results: Vec<serde_json::Value>,
    /// One per activity, in order, in the same shape; present when the
    /// request had activities.
    #[schema(value_type = Vec<Object>)]
    activities: Option<Vec<serde_json::Value>>,
    /// Records and activities per status.
    summary: super::routes::Summary,
}

/// `PUT /v1/customers/{customer}/connection`.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Connection {
    /// The org's API base, e.g. `https://acme.my.salesforce.com`.
    base_url: String,
    /// OAuth client id.
    client_id: String,
    /// OAuth client secret.
    client_secret: String,
    /// OAuth refresh token.
    refresh_token: String,
    /// The connected app's RSA private key (PEM), for reps connected
    /// through Salesforce's JWT bearer flow (`rep_auth: jwt`).
    jwt_private_key: Option<String>,
}

/// The schema objects read again.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct SchemaRefreshed {
    /// CRM objects described.
    objects: Vec<String>,
    /// When (RFC 3339).
    read_at: Option<String>,
    /// What in the config does not fit the schema: file, key and message.
    #[schema(value_type = Vec<Object>)]
    problems: Vec<serde_json::Value>,
    /// The drift report this check left, as `GET .../schema/drift` reads it.
    drift: crate::store::DriftReport,
}

/// The schema a customer's config is checked against; saved as
/// `schemas/CUSTOMER.json`, the snapshot `conduit check` reads.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct SchemaSnapshot {
    /// When it was read (RFC 3339).
    read_at: Option<String>,
    /// Per CRM object: its fields, their types, picklist values and access.
    #[schema(value_type = Object)]
    objects: serde_json::Value,
    /// The org's object catalog: each object's API name and label.
    #[schema(value_type = Vec<Object>)]
    catalog: Vec<serde_json::Value>,
    /// What in the config does not fit the schema.
    #[schema(value_type = Vec<Object>)]
    problems: Vec<serde_json::Value>,
}

/// A customer's periodic tasks.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Schedule {
    /// By task name.
    tasks: Vec<crate::store::TaskState>,
}

/// A customer's audit, newest first.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Audit {
    /// Per record: customer, idempotency key, entity, object, CRM id,
    /// status, error code, config version, plugin, per-field decisions
    /// (before, after, policy, reason), error and time.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<serde_json::Value>,
}

/// A plugin component's bytes.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(super) struct Component(Vec<u8>);

/// An uploaded plugin version.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct PluginUploaded {
    /// Package name.
    name: String,
    /// Version.
    version: String,
    /// The component's content hash.
    sha256: String,
    /// Its size in bytes.
    size: i64,
    /// Who uploaded it, as `name (key id)`.
    uploaded_by: Option<String>,
    /// When (RFC 3339).
    uploaded_at: String,
    /// What its fixture cases found on upload (`passed`, `failed`, `cases`
    /// with a `diff` for each failure); null when it carries none.
    #[schema(value_type = Option<Object>)]
    fixtures: Option<serde_json::Value>,
    /// Who approved it.
    approved_by: Option<String>,
    /// When.
    approved_at: Option<String>,
}

/// `GET /v1/plugins` and `GET /v1/plugins/{name}`.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct PluginVersions {
    /// Versions, by name, oldest first.
    versions: Vec<PluginUploaded>,
}

/// `PUT /v1/customers/{customer}/plugin`.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Activation {
    /// An approved version of the plugin the customer's config names.
    version: String,
}

/// What runs for a customer.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct CustomerPlugin {
    /// The customer.
    customer: String,
    /// The plugin its config names, if any.
    plugin: Option<String>,
    /// The version in force.
    version: Option<String>,
    /// `activation` when an activation pins it, `config` otherwise.
    source: String,
    /// The pause after repeated traps (`name`, `version`, `reason`,
    /// `paused_at`), until CS resumes it.
    #[schema(value_type = Option<Object>)]
    paused: Option<serde_json::Value>,
    /// Every activation, newest first, with who activated and who rolled
    /// it back.
    #[schema(value_type = Vec<Object>)]
    history: Vec<serde_json::Value>,
}

/// `GET /v1/audit`.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct OperatorAudit {
    /// Steps, newest first: `actor`, `action` (`key.create`, `key.revoke`,
    /// `plugin.upload`, `plugin.approve`, `plugin.activate`,
    /// `plugin.rollback`, `plugin.pause`, `plugin.resume`), `customer`,
    /// `plugin`, `version`, `detail` and `at`.
    #[schema(value_type = Vec<Object>)]
    events: Vec<serde_json::Value>,
}

/// `POST /v1/keys`.
#[allow(dead_code, reason = "describes a body handled by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct NewKey {
    /// What the key is for, e.g. `globex agent`.
    name: String,
    /// `agent`, `cs`, `engineer` or `admin`.
    role: String,
    /// The customers the key may act for; required for `agent`, empty or
    /// absent means every customer.
    customers: Option<Vec<String>>,
}

/// A key as the host keeps it, without its secret.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct KeyInfo {
    /// The key's id, as the audit names it.
    id: String,
    /// What the key is for.
    name: String,
    /// Its role.
    role: String,
    /// The customers it is scoped to; empty means every customer.
    customers: Vec<String>,
    /// Who created it.
    created_by: String,
    /// When (RFC 3339).
    created_at: String,
    /// When it was revoked, if it was.
    revoked_at: Option<String>,
}

/// A new key: its id and role and, this once, the key itself.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct KeyCreated {
    #[serde(flatten)]
    info: KeyInfo,
    /// The key to send as `Authorization: Bearer KEY`; never shown again.
    key: String,
}

/// `GET /v1/keys`.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Keys {
    /// Every key, oldest first.
    keys: Vec<KeyInfo>,
}

/// The readiness of the host.
#[derive(Serialize, ToSchema)]
pub(super) struct Readiness {
    /// `ready`, or `unavailable` with the failing check.
    pub(super) status: &'static str,
    /// `ok`, or why the store does not answer.
    pub(super) store: String,
    /// Customers whose config is loaded.
    pub(super) customers: usize,
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, Schema};

    use super::*;

    fn properties<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("not an object schema"),
        }
    }

    #[test]
    fn the_documented_bodies_have_the_keys_the_parsers_accept() {
        let mut write = properties::<WriteRequest>();
        write.sort();
        let mut accepted: Vec<_> = super::super::requests::WRITE_KEYS.to_vec();
        accepted.sort();
        assert_eq!(write, accepted);

        let mut connection = properties::<Connection>();
        connection.sort();
        let mut accepted: Vec<_> = super::super::requests::CONNECTION_KEYS.to_vec();
        accepted.sort();
        assert_eq!(connection, accepted);
    }
}

/// A page of the change feed.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Feed {
    /// Changes after the cursor, oldest first.
    changes: Vec<FeedChange>,
    /// The cursor to pass as `after` next: the last change's, or the one
    /// given when there is nothing new.
    next: Option<String>,
}

/// One change read from the CRM.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct FeedChange {
    /// Opaque and increasing; pass it as `after` to read what follows.
    cursor: String,
    /// The agent entity.
    entity: String,
    /// The CRM object.
    object: String,
    /// The record's CRM id.
    crm_id: String,
    /// The agent's key of the record (its match field's value).
    record_key: Option<String>,
    /// `upsert` or `delete`.
    #[schema(example = "upsert")]
    kind: String,
    /// The record in the agent's fields, mapped through the config in
    /// reverse and the plugin's `map-inbound`; `{}` for a deletion.
    #[schema(value_type = Object)]
    fields: serde_json::Value,
    /// CRM values passed through untranslated: `{field, value, reason}`,
    /// `reason` `unmapped` or `ambiguous` (with `candidates`).
    #[schema(value_type = Vec<Object>)]
    notes: serde_json::Value,
    /// Why the record could not be mapped (`code`, `message`); absent when
    /// it was.
    #[schema(value_type = Option<Object>)]
    error: Option<serde_json::Value>,
    /// When the CRM last changed (or deleted) the record.
    modstamp: String,
    /// When the host read it.
    read_at: String,
}

/// Every read object's progress.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Reads {
    /// One per object read so far.
    objects: Vec<ReadProgress>,
}

/// One object's read progress.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct ReadProgress {
    /// The CRM object.
    object: String,
    /// The agent entity.
    entity: String,
    /// `backfill` until a run reaches the newest record, then `incremental`.
    mode: String,
    /// Modification time of the last record stored.
    modstamp: Option<String>,
    /// Its CRM id.
    last_id: Option<String>,
    /// The deletions' cursor, where the CRM lists them apart (HubSpot).
    deleted_at: Option<String>,
    /// Its CRM id.
    deleted_id: Option<String>,
    /// Records read since the cursor was created or reset.
    records_read: i64,
    /// Changes stored since then.
    changes: i64,
    /// When the cursor was created or reset.
    started_at: Option<String>,
    /// When a run last finished.
    last_run_at: Option<String>,
    /// The last run's error.
    last_error: Option<String>,
}

/// What an on-demand run read.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct ReadRun {
    /// The customer.
    customer: String,
    /// Per object: `records_read`, `changes`, `suppressed` (the host's own
    /// writes), `failed` (stored with a mapping error), `caught_up`, `error`.
    #[schema(value_type = Vec<Object>)]
    objects: serde_json::Value,
}

/// Webhook deliveries.
#[allow(dead_code, reason = "describes a body built by hand")]
#[derive(Serialize, ToSchema)]
pub(super) struct Deliveries {
    /// Newest first: `id`, `url`, `change` (its cursor), `state`
    /// (`pending`, `delivered`, `dead`), `attempts`, `next_at`,
    /// `last_status`, `last_error`, `created_at`, `delivered_at`.
    #[schema(value_type = Vec<Object>)]
    deliveries: serde_json::Value,
}
