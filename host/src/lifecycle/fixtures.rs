//! A plugin's fixture cases: an input record and what the plugin must
//! answer, run in the host's own runtime under its sandbox, so a case that
//! passes on the author's machine passes the same way on upload.
//!
//! `fixtures.json` in the plugin's crate:
//!
//! ```json
//! {
//!   "settings": { "commit_threshold": 5000 },
//!   "schema": { "deals": { "name": "deals", "fields": { } } },
//!   "cases": [
//!     { "name": "won closes", "hook": "translate_status", "object": "deals",
//!       "field": "dealstage", "status": "Won",
//!       "record": { "entity": "deal", "fields": { "amount": 10 } },
//!       "expect": "closedwon" },
//!     { "name": "a bad stage", "hook": "translate_status", "object": "deals",
//!       "field": "dealstage", "status": "Mystery",
//!       "record": { "entity": "deal" }, "expect_error": "unknown_stage" },
//!     { "name": "writes", "hook": "map_record", "record": { "entity": "deal" },
//!       "draft": [ { "object": "deals", "fields": { } } ],
//!       "expect": [ { "object": "deals", "fields": { "pipeline": "default" } } ] }
//!   ]
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::plugin::{Plugin, PluginCallError, PluginContext};
use crate::record::{AgentRecord, Association, CrmWrite, Fields, MatchKey, Operation, Value};
use crate::schema::{ObjectSchema, OrgSchema};

/// The most cases one plugin may carry: each runs on every upload, for at
/// most the CPU deadline, so an upload is vetted within 200 deadlines.
pub const MAX_CASES: usize = 200;

/// A plugin's fixture cases and the customer they stand for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// The plugin's `settings`, as a customer's config would give them.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
    /// The schema the plugin sees, by CRM object.
    #[serde(default)]
    pub schema: BTreeMap<String, ObjectSchema>,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case: a hook's input and what it must answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "hook", rename_all = "snake_case", deny_unknown_fields)]
pub enum Case {
    /// `map-record`: the record and draft in, the writes out.
    MapRecord {
        /// What the case shows, for the report.
        name: String,
        /// The agent's record.
        record: FixtureRecord,
        /// The declarative mapping's draft.
        #[serde(default)]
        draft: Vec<FixtureWrite>,
        /// The writes the plugin must answer.
        #[serde(default)]
        expect: Option<Vec<FixtureWrite>>,
        /// Or the code of the plugin error it must answer.
        #[serde(default)]
        expect_error: Option<String>,
    },
    /// `translate-status`: a status in, a CRM value (or none) out.
    TranslateStatus {
        /// What the case shows, for the report.
        name: String,
        /// The CRM object.
        object: String,
        /// The CRM field.
        field: String,
        /// The agent's status.
        status: String,
        /// The whole agent record.
        record: FixtureRecord,
        /// The value the plugin must answer; absent or `null` is none.
        #[serde(default)]
        expect: Option<Value>,
        /// Or the code of the plugin error it must answer.
        #[serde(default)]
        expect_error: Option<String>,
    },
}

impl Case {
    /// The case's name.
    pub fn name(&self) -> &str {
        match self {
            Case::MapRecord { name, .. } | Case::TranslateStatus { name, .. } => name,
        }
    }
}

/// An agent record with the defaults a fixture may leave out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRecord {
    /// The agent entity.
    pub entity: String,
    /// `upsert` unless given.
    #[serde(default = "upsert")]
    pub operation: Operation,
    /// The match key's value.
    #[serde(default)]
    pub key: Option<String>,
    /// The rep's email.
    #[serde(default)]
    pub acting_for: Option<String>,
    /// The agent's fields.
    #[serde(default)]
    pub fields: Fields,
}

fn upsert() -> Operation {
    Operation::Upsert
}

impl From<&FixtureRecord> for AgentRecord {
    fn from(record: &FixtureRecord) -> Self {
        AgentRecord {
            entity: record.entity.clone(),
            operation: record.operation,
            key: record.key.clone(),
            acting_for: record.acting_for.clone(),
            fields: record.fields.clone(),
        }
    }
}

/// A CRM write with the defaults a fixture may leave out.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureWrite {
    /// The CRM object.
    pub object: String,
    /// A name other writes refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// How the write finds its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_key: Option<MatchKey>,
    /// The CRM fields.
    #[serde(default)]
    pub fields: Fields,
    /// Links to other records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Association>,
}

impl From<&FixtureWrite> for CrmWrite {
    fn from(write: &FixtureWrite) -> Self {
        CrmWrite {
            object: write.object.clone(),
            reference_id: write.reference_id.clone(),
            match_key: write.match_key.clone(),
            fields: write.fields.clone(),
            associations: write.associations.clone(),
        }
    }
}

impl From<CrmWrite> for FixtureWrite {
    fn from(write: CrmWrite) -> Self {
        FixtureWrite {
            object: write.object,
            reference_id: write.reference_id,
            match_key: write.match_key,
            fields: write.fields,
            associations: write.associations,
        }
    }
}

impl Fixtures {
    /// Reads `fixtures.json`, refusing a file with no case or too many.
    pub fn parse(json: &[u8]) -> anyhow::Result<Self> {
        let fixtures: Fixtures = serde_json::from_slice(json)
            .map_err(|e| anyhow::anyhow!("the fixtures are not valid: {e}"))?;
        if fixtures.cases.is_empty() {
            anyhow::bail!("the fixtures hold no case");
        }
        if fixtures.cases.len() > MAX_CASES {
            anyhow::bail!(
                "the fixtures hold {} cases, more than the {MAX_CASES} a plugin may carry",
                fixtures.cases.len()
            );
        }
        Ok(fixtures)
    }
}

/// What running the fixture cases found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Cases that answered as expected.
    pub passed: usize,
    /// Cases that did not.
    pub failed: usize,
    /// Each case's outcome, in order.
    pub cases: Vec<CaseOutcome>,
}

impl Report {
    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// The report as a person reads it: one line per case, and for a
    /// failure what differed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            let mark = if case.passed { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {}\n", case.name));
            if let Some(diff) = &case.diff {
                for line in diff.lines() {
                    out.push_str(&format!("       {line}\n"));
                }
            }
        }
        out.push_str(&format!("{} passed, {} failed\n", self.passed, self.failed));
        out
    }
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseOutcome {
    /// The case's name.
    pub name: String,
    /// Whether it answered as expected.
    pub passed: bool,
    /// What differed, expected against answered, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Runs every case on a fresh instance of `plugin`, as customer `fixtures`.
/// Blocking: wasm runs on the calling thread.
pub fn run(plugin: &Arc<Plugin>, fixtures: &Fixtures) -> Report {
    let schema = OrgSchema {
        objects: fixtures.schema.clone(),
        ..OrgSchema::default()
    };
    let context = PluginContext {
        customer: "fixtures".into(),
        settings: fixtures.settings.clone(),
        schema: Arc::new(schema),
    };
    let cases: Vec<CaseOutcome> = fixtures
        .cases
        .iter()
        .map(|case| {
            let mut instance = plugin.instance(context.clone());
            let (expected, answered) = match case {
                Case::MapRecord {
                    record,
                    draft,
                    expect,
                    expect_error,
                    ..
                } => {
                    let draft: Vec<CrmWrite> = draft.iter().map(CrmWrite::from).collect();
                    let answer = instance.map_record(&record.into(), &draft).map(|writes| {
                        let writes: Vec<FixtureWrite> =
                            writes.into_iter().map(FixtureWrite::from).collect();
                        serde_json::to_value(writes).unwrap_or_default()
                    });
                    let expect = expect
                        .as_ref()
                        .map(|w| serde_json::to_value(w).unwrap_or_default());
                    (expected(expect, expect_error.as_deref()), answered(answer))
                }
                Case::TranslateStatus {
                    object,
                    field,
                    status,
                    record,
                    expect,
                    expect_error,
                    ..
                } => {
                    let answer = instance
                        .translate_status(object, field, status, &record.into())
                        .map(|value| serde_json::to_value(value).unwrap_or_default());
                    let expect = Some(serde_json::to_value(expect).unwrap_or_default());
                    (expected(expect, expect_error.as_deref()), answered(answer))
                }
            };
            outcome(case.name(), &expected, &answered)
        })
        .collect();
    let passed = cases.iter().filter(|c| c.passed).count();
    Report {
        passed,
        failed: cases.len() - passed,
        cases,
    }
}

/// What a case expects, in the shape [`answered`] gives an answer.
fn expected(expect: Option<Json>, error: Option<&str>) -> Json {
    match error {
        Some(code) => serde_json::json!({ "error": code }),
        None => serde_json::json!({ "answer": expect.unwrap_or(Json::Null) }),
    }
}

/// A hook's answer: `{"answer": ...}`, `{"error": CODE}` for the plugin's
/// own error, or `{"failed": MESSAGE}` when it trapped or answered out of
/// contract.
fn answered(answer: Result<Json, PluginCallError>) -> Json {
    match answer {
        Ok(answer) => serde_json::json!({ "answer": answer }),
        Err(PluginCallError::Rejected { error, .. }) => serde_json::json!({ "error": error.code }),
        Err(other) => serde_json::json!({ "failed": other.to_string() }),
    }
}

fn outcome(name: &str, expected: &Json, answered: &Json) -> CaseOutcome {
    let passed = expected == answered;
    let diff = (!passed).then(|| diff(expected, answered));
    CaseOutcome {
        name: name.to_owned(),
        passed,
        diff,
    }
}

/// A line diff of the two, pretty-printed: `-` expected, `+` answered.
fn diff(expected: &Json, answered: &Json) -> String {
    let pretty = |value: &Json| serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    let (expected, answered) = (pretty(expected), pretty(answered));
    let diff = similar::TextDiff::from_lines(&expected, &answered);
    diff.unified_diff()
        .context_radius(3)
        .header("expected", "answered")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_file_reads_with_its_defaults() {
        let json = br#"{"cases": [
            {"name": "won", "hook": "translate_status", "object": "deals",
             "field": "dealstage", "status": "Won", "record": {"entity": "deal"},
             "expect": "closedwon"},
            {"name": "pass", "hook": "map_record", "record": {"entity": "deal"},
             "draft": [{"object": "deals"}], "expect": [{"object": "deals"}]}
        ]}"#;
        let fixtures = Fixtures::parse(json).expect("valid fixtures");
        assert_eq!(fixtures.cases.len(), 2);
        assert_eq!(fixtures.cases[1].name(), "pass");
    }

    #[test]
    fn fixtures_without_cases_or_with_unknown_keys_are_refused() {
        assert!(Fixtures::parse(br#"{"cases": []}"#).is_err());
        assert!(Fixtures::parse(br#"{"cases": [], "extra": 1}"#).is_err());
    }

    #[test]
    fn a_difference_is_shown_line_by_line() {
        let expected = serde_json::json!({ "answer": "closedwon" });
        let answered = serde_json::json!({ "answer": "qualifiedtobuy" });
        let case = outcome("won", &expected, &answered);
        assert!(!case.passed);
        let diff = case.diff.unwrap_or_default();
        assert!(diff.contains("-  \"answer\": \"closedwon\""), "{diff}");
        assert!(diff.contains("+  \"answer\": \"qualifiedtobuy\""), "{diff}");
        assert!(outcome("same", &expected, &expected).passed);
    }
}
