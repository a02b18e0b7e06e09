//! Counting what one pass of the demo did, and printing it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// What one pass did for one customer.
#[derive(Debug, Default, Clone)]
pub struct PassSummary {
    /// Records sent.
    pub records: usize,
    /// Records created.
    pub created: usize,
    /// Records updated.
    pub updated: usize,
    /// Records already up to date.
    pub unchanged: usize,
    /// Records that failed.
    pub failed: usize,
    /// Records answered from an earlier request with the same key.
    pub replayed: usize,
    /// Failures by error code.
    pub failed_by_code: BTreeMap<String, usize>,
    /// One message per error code.
    pub example_error: BTreeMap<String, String>,
    /// Fields written.
    pub written: usize,
    /// Fields written, by where the value came from (agent, plugin,
    /// default, owner, reference, key).
    pub written_by_source: BTreeMap<String, usize>,
    /// Fields left out, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// CRM API calls made, token refreshes included.
    pub crm_calls: u64,
    /// Wall time of the pass.
    pub elapsed: Duration,
    /// One created deal's result, to show its field decisions.
    pub sample: Option<Value>,
}

impl PassSummary {
    /// Counts one record result as the API returned it.
    pub fn add(&mut self, result: &Value) {
        self.records += 1;
        if result.get("replayed").and_then(Value::as_bool) == Some(true) {
            self.replayed += 1;
        }
        match result.get("status").and_then(Value::as_str).unwrap_or("") {
            "created" => self.created += 1,
            "updated" => self.updated += 1,
            "unchanged" => self.unchanged += 1,
            _ => {
                self.failed += 1;
                let code = result
                    .pointer("/error/code")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned();
                let message = result
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.example_error
                    .entry(code.clone())
                    .or_insert_with(|| message.to_owned());
                *self.failed_by_code.entry(code).or_default() += 1;
            }
        }
        for field in result
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match field.get("decision").and_then(Value::as_str) {
                Some("write") => {
                    self.written += 1;
                    let source = field.get("source").and_then(Value::as_str);
                    let source = source.unwrap_or("unknown").to_owned();
                    *self.written_by_source.entry(source).or_default() += 1;
                }
                _ => {
                    let reason = field
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown");
                    *self.skipped.entry(reason.to_owned()).or_default() += 1;
                }
            }
        }
        let is_deal = result.get("entity").and_then(Value::as_str) == Some("deal");
        if self.sample.is_none()
            && is_deal
            && result.get("status").and_then(Value::as_str) == Some("created")
        {
            self.sample = Some(result.clone());
        }
    }

    /// The summary as the demo prints it.
    pub fn render(&self, customer: &str, crm: &str, pass: &str) -> String {
        let mut out = String::new();
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.records as f64 / seconds
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{customer} ({crm}), {pass}: {} records in {seconds:.1} s ({rate:.0} records/s)",
            self.records
        );
        let _ = writeln!(
            out,
            "  created {}  updated {}  unchanged {}  failed {}{}",
            self.created,
            self.updated,
            self.unchanged,
            self.failed,
            if self.replayed > 0 {
                format!("  (replayed {})", self.replayed)
            } else {
                String::new()
            }
        );
        for (code, count) in &self.failed_by_code {
            let example = self
                .example_error
                .get(code)
                .map(String::as_str)
                .unwrap_or("");
            let _ = writeln!(out, "    failed {code}: {count}  e.g. {example}");
        }
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let sources: Vec<String> = self
            .written_by_source
            .iter()
            .map(|(source, n)| format!("{source} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  fields written {}{}  skipped: {}",
            self.written,
            if sources.is_empty() {
                String::new()
            } else {
                format!(" (from {})", sources.join(", "))
            },
            if skipped.is_empty() {
                "none".to_owned()
            } else {
                skipped.join(", ")
            }
        );
        let _ = writeln!(out, "  CRM API calls {}", self.crm_calls);
        out
    }
}

/// One record's field decisions, a line each.
pub fn render_decisions(result: &Value) -> String {
    let mut out = String::new();
    let object = result.get("object").and_then(Value::as_str).unwrap_or("?");
    let id = result.get("crm_id").and_then(Value::as_str).unwrap_or("?");
    let _ = writeln!(out, "  {object} {id}:");
    for field in result
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| field.get(k).map(short).unwrap_or_default();
        let _ = writeln!(
            out,
            "    {:<22} {:<6} {:<12} {:<8} {}",
            text("field"),
            text("decision"),
            text("reason"),
            text("source"),
            text("value"),
        );
    }
    for link in result
        .get("associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| link.get(k).map(short).unwrap_or_default();
        let _ = writeln!(out, "    linked to {} {}", text("object"), text("id"));
    }
    out
}

fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(39).collect::<String>())
    } else {
        text
    }
}
