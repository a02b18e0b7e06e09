//! Activities: a call, email, meeting, task or note the agent logs once,
//! turned into a write of the customer's activity entity for its kind
//! (`activities:` in the config), so that it goes through the same path as
//! a record: mapping, the plugin's `map-activity`, the schema check, the
//! owner, the writer and the audit.
//!
//! The activity's attributes become the entity's agent fields (`subject`,
//! `body`, `occurred_at`, ...), with a few derived ones so a mapping needs
//! no arithmetic: `started_at`, `ended_at`, `duration_minutes` and
//! `duration_ms`. Its related records become associations, routed in
//! Salesforce to the lookup field whose `referenceTo` names their object.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{RecordError, WriteIntent};
use crate::config::CustomerConfig;
use crate::record::{
    Activity, ActivityKind, Fields, MatchKey, Operation, RelatedRecord, Target, Value,
};

/// The agent fields the host fills from an activity's attributes; the
/// agent's own `fields` may not use these names.
pub const ACTIVITY_FIELDS: [&str; 11] = [
    "subject",
    "body",
    "occurred_at",
    "started_at",
    "ended_at",
    "duration_seconds",
    "duration_minutes",
    "duration_ms",
    "direction",
    "outcome",
    "subtype",
];

/// The agent fields the host derives rather than the agent sends.
pub(super) const DERIVED_FIELDS: [&str; 4] =
    ["started_at", "ended_at", "duration_minutes", "duration_ms"];

/// An activity as the agent sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityIntent {
    /// `call`, `email`, `meeting`, `task` or `note`.
    pub kind: ActivityKind,
    /// The customer's finer category, e.g. `discovery call`.
    #[serde(default)]
    pub subtype: Option<String>,
    /// One-line summary.
    #[serde(default)]
    pub subject: Option<String>,
    /// Notes, transcript summary or email body.
    #[serde(default)]
    pub body: Option<String>,
    /// When it happened (RFC 3339); a task's due time.
    pub occurred_at: String,
    /// Length in seconds, for calls and meetings.
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The result, e.g. `connected` or `left voicemail`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// The contact, company, deal or lead it relates to.
    #[serde(default)]
    pub related: Vec<RelatedInput>,
    /// The email of the rep the agent acts for.
    #[serde(default)]
    pub acting_for: Option<String>,
    /// Required: an activity is always new, so only its key tells a retry
    /// from a second call.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Further agent fields, mapped like a record's.
    #[serde(default)]
    pub fields: Fields,
}

/// A record an activity relates to, by exactly one of CRM id, key or email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelatedInput {
    /// The agent entity: `contact`, `company`, `deal`, `lead`.
    pub entity: String,
    /// The record's CRM id.
    #[serde(default)]
    pub id: Option<String>,
    /// The record's key: the entity's match field.
    #[serde(default)]
    pub key: Option<String>,
    /// The record's email: the CRM field the entity maps `email` to.
    #[serde(default)]
    pub email: Option<String>,
}

/// The write intent of an activity for `config`'s customer: the activity
/// entity of its kind, keyed by its idempotency key where the entity has a
/// match field (so a create whose answer was lost is found, not repeated).
pub fn into_intent(
    config: &CustomerConfig,
    activity: ActivityIntent,
) -> Result<WriteIntent, RecordError> {
    let entity = activity.kind.entity();
    let Some(mapping) = config.entities.get(&entity) else {
        return Err(RecordError::input(
            "activity_not_mapped",
            format!(
                "customer `{}` maps no `{}` activities; add `activities: {}:` to its config",
                config.customer, activity.kind, activity.kind
            ),
            Some("kind".into()),
        ));
    };
    let key = match activity.idempotency_key.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => {
            return Err(RecordError::input(
                "missing_idempotency_key",
                "an activity needs an `idempotency_key`: it is always a create, and a retry \
                 without one would log it twice"
                    .into(),
                Some("idempotency_key".into()),
            ));
        }
    };
    let occurred_at = instant(&activity.occurred_at)?;
    let direction = match activity.direction.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) if d.eq_ignore_ascii_case("inbound") => Some("inbound".to_owned()),
        Some(d) if d.eq_ignore_ascii_case("outbound") => Some("outbound".to_owned()),
        Some(d) => {
            return Err(RecordError::input(
                "invalid_direction",
                format!("direction `{d}` is neither `inbound` nor `outbound`"),
                Some("direction".into()),
            ));
        }
    };
    let related = activity
        .related
        .iter()
        .map(|r| related(config, r))
        .collect::<Result<Vec<_>, _>>()?;

    let mut fields = activity_fields(&activity, occurred_at, direction.as_deref());
    for (name, value) in &activity.fields {
        if ACTIVITY_FIELDS.contains(&name.as_str()) {
            return Err(RecordError::input(
                "reserved_field",
                format!("`{name}` is an activity attribute; send it beside `fields`, not in it"),
                Some(name.clone()),
            ));
        }
        fields.insert(name.clone(), value.clone());
    }

    let keyed = mapping.match_field.is_some();
    let plugin_view = Activity {
        kind: activity.kind,
        subtype: activity.subtype.clone(),
        subject: activity.subject.clone(),
        body: activity.body.clone(),
        occurred_at,
        duration_seconds: activity.duration_seconds,
        direction,
        outcome: activity.outcome.clone(),
        acting_for: activity.acting_for.clone(),
        related,
        fields: activity.fields.clone(),
    };
    Ok(WriteIntent {
        entity,
        operation: if keyed {
            Operation::Upsert
        } else {
            Operation::Create
        },
        key: keyed.then(|| key.clone()),
        fields,
        acting_for: activity.acting_for,
        idempotency_key: Some(key),
        activity: Some(Box::new(plugin_view)),
    })
}

/// The agent fields of an activity, derived ones included.
fn activity_fields(
    activity: &ActivityIntent,
    occurred_at: DateTime<Utc>,
    direction: Option<&str>,
) -> Fields {
    let mut fields = Fields::new();
    let mut text = |name: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().filter(|v| !v.trim().is_empty()) {
            fields.insert(name.to_owned(), Value::Text(value.clone()));
        }
    };
    text("subject", &activity.subject);
    text("body", &activity.body);
    text("outcome", &activity.outcome);
    text("subtype", &activity.subtype);
    text("direction", &direction.map(str::to_owned));

    let stamp =
        |at: DateTime<Utc>| Value::Text(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    fields.insert("occurred_at".into(), stamp(occurred_at));
    fields.insert("started_at".into(), stamp(occurred_at));
    if let Some(seconds) = activity.duration_seconds {
        let ended = occurred_at + Duration::seconds(i64::from(seconds));
        fields.insert("ended_at".into(), stamp(ended));
        fields.insert("duration_seconds".into(), Value::Number(f64::from(seconds)));
        fields.insert(
            "duration_minutes".into(),
            Value::Number(f64::from(seconds.div_ceil(60))),
        );
        fields.insert(
            "duration_ms".into(),
            Value::Number(f64::from(seconds) * 1000.0),
        );
    }
    fields
}

/// `occurred_at` as an instant: RFC 3339 with an offset, so the day and
/// hour never depend on where the host runs.
fn instant(text: &str) -> Result<DateTime<Utc>, RecordError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            RecordError::input(
                "invalid_occurred_at",
                format!(
                    "`occurred_at` `{text}` is not an RFC 3339 instant such as \
                     `2024-05-01T13:00:00Z`: {e}"
                ),
                Some("occurred_at".into()),
            )
        })
}

/// A related record as a target on its entity's object.
fn related(config: &CustomerConfig, input: &RelatedInput) -> Result<RelatedRecord, RecordError> {
    let fault =
        |message: String| RecordError::input("invalid_related", message, Some("related".into()));
    let Some(mapping) = config
        .entities
        .get(&input.entity)
        .filter(|_| !input.entity.contains('.'))
    else {
        return Err(fault(format!(
            "related entity `{}` is not mapped for customer `{}`",
            input.entity, config.customer
        )));
    };
    let given = [&input.id, &input.key, &input.email]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != 1 {
        return Err(fault(format!(
            "related `{}` needs exactly one of `id`, `key` or `email`",
            input.entity
        )));
    }
    let lookup = |field: String, value: &str| {
        Target::Lookup(MatchKey {
            field,
            value: Value::Text(value.trim().to_owned()),
        })
    };
    let target = match (&input.id, &input.key, &input.email) {
        (Some(id), _, _) if !id.trim().is_empty() => Target::CrmId(id.trim().to_owned()),
        (_, Some(key), _) if !key.trim().is_empty() => {
            let Some(field) = &mapping.match_field else {
                return Err(fault(format!(
                    "entity `{}` has no match field to find a record by `key`",
                    input.entity
                )));
            };
            lookup(field.clone(), key)
        }
        (_, _, Some(email)) => {
            let field = mapping
                .fields
                .get("email")
                .and_then(|f| f.crm_field.clone())
                .ok_or_else(|| {
                    fault(format!(
                        "entity `{}` maps no `email` field to find a record by",
                        input.entity
                    ))
                })?;
            lookup(field, email)
        }
        _ => {
            return Err(fault(format!(
                "related `{}` needs exactly one of `id`, `key` or `email`",
                input.entity
            )));
        }
    };
    Ok(RelatedRecord {
        entity: input.entity.clone(),
        target,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const INTEGRATION: &str = "\
entities:
  contact:
    salesforce:
      object: Contact
      match: Email
      fields: { email: Email }
  deal:
    salesforce:
      object: Opportunity
      match: External_Id__c
      fields: { name: Name }
activities:
  call:
    salesforce:
      object: Task
      match: Conduit_Key__c
      fields: { subject: Subject }
  note:
    salesforce:
      object: Task
      fields: { body: Description }
";

    fn config() -> CustomerConfig {
        crate::config::from_yaml(INTEGRATION, "customer: acme\ncrm: salesforce\n")
    }

    fn intent(activity: serde_json::Value) -> Result<WriteIntent, RecordError> {
        let parsed: ActivityIntent = serde_json::from_value(activity).expect("parses");
        into_intent(&config(), parsed)
    }

    fn call() -> serde_json::Value {
        json!({
            "kind": "call",
            "subject": "Intro",
            "occurred_at": "2024-05-01T15:00:00+02:00",
            "duration_seconds": 61,
            "direction": "Outbound",
            "related": [
                {"entity": "contact", "email": " bob@initrode.example "},
                {"entity": "deal", "key": "D-1"},
                {"entity": "deal", "id": "006000000000001"},
            ],
            "idempotency_key": "k-1",
        })
    }

    #[test]
    fn a_call_becomes_an_upsert_keyed_by_its_idempotency_key() {
        let intent = intent(call()).expect("a valid call");
        assert_eq!(intent.entity, "activity.call");
        assert_eq!(intent.operation, Operation::Upsert);
        assert_eq!(intent.key.as_deref(), Some("k-1"));
        assert_eq!(intent.idempotency_key.as_deref(), Some("k-1"));

        let text = |name: &str| intent.fields.get(name).and_then(Value::as_text);
        assert_eq!(text("occurred_at"), Some("2024-05-01T13:00:00Z"));
        assert_eq!(text("ended_at"), Some("2024-05-01T13:01:01Z"));
        assert_eq!(text("direction"), Some("outbound"));
        assert_eq!(
            intent.fields.get("duration_minutes"),
            Some(&Value::Number(2.0))
        );
        assert_eq!(
            intent.fields.get("duration_ms"),
            Some(&Value::Number(61_000.0))
        );

        let activity = intent.activity.expect("the plugin's view");
        let targets: Vec<&Target> = activity.related.iter().map(|r| &r.target).collect();
        let by = |field: &str, value: &str| {
            Target::Lookup(MatchKey {
                field: field.into(),
                value: Value::Text(value.into()),
            })
        };
        assert_eq!(
            targets,
            [
                &by("Email", "bob@initrode.example"),
                &by("External_Id__c", "D-1"),
                &Target::CrmId("006000000000001".into()),
            ]
        );
    }

    #[test]
    fn an_activity_without_a_match_field_is_a_create() {
        let note = json!({"kind": "note", "body": "x", "occurred_at": "2024-05-01T13:00:00Z",
                          "idempotency_key": "n-1"});
        let intent = intent(note).expect("a valid note");
        assert_eq!(intent.operation, Operation::Create);
        assert_eq!(intent.key, None);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            ("idempotency_key", json!(null), "missing_idempotency_key"),
            ("idempotency_key", json!("  "), "missing_idempotency_key"),
            (
                "occurred_at",
                json!("2024-05-01 13:00"),
                "invalid_occurred_at",
            ),
            ("direction", json!("sideways"), "invalid_direction"),
            (
                "related",
                json!([{"entity": "lead", "id": "00Q"}]),
                "invalid_related",
            ),
            ("related", json!([{"entity": "contact"}]), "invalid_related"),
            ("fields", json!({"subject": "again"}), "reserved_field"),
            ("kind", json!("email"), "activity_not_mapped"),
        ];
        for (key, value, code) in cases {
            let mut activity = call();
            activity[key] = value;
            let error = intent(activity).expect_err(key);
            assert_eq!(error.code, code, "{key}: {}", error.message);
        }
    }
}
