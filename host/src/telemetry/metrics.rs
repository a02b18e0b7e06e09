//! Prometheus metrics: one recorder per process, rendered as text on
//! `GET /metrics`, and one small function per thing the host counts, so the
//! names and labels live here and the code that counts stays one line.
//!
//! Labels are bounded sets: customers, CRM objects, outcomes, providers,
//! endpoints with record ids replaced by `{id}`, plugins and hooks. Never a
//! record id, an email or a field value.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Records written, by customer, CRM object and outcome.
pub const WRITES: &str = "conduit_writes_total";
/// Records accepted by the API and not answered yet, by customer.
pub const QUEUE_DEPTH: &str = "conduit_write_queue_depth";
/// CRM API calls, by provider, endpoint and HTTP status.
pub const CRM_CALLS: &str = "conduit_crm_calls_total";
/// CRM API call latency in seconds, by provider and endpoint.
pub const CRM_LATENCY: &str = "conduit_crm_call_duration_seconds";
/// Waits on a CRM's rate limit, by provider.
pub const RATE_LIMIT_WAITS: &str = "conduit_crm_rate_limit_waits_total";
/// How long each wait on a CRM rate limit lasted, in seconds, by provider.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "conduit_crm_rate_limit_wait_seconds";
/// Plugin hook calls, by plugin, version, hook and outcome.
pub const PLUGIN_CALLS: &str = "conduit_plugin_calls_total";
/// Plugin hook call duration in seconds, by plugin and hook.
pub const PLUGIN_DURATION: &str = "conduit_plugin_call_duration_seconds";
/// Plugin traps, by plugin, version and reason.
pub const PLUGIN_TRAPS: &str = "conduit_plugin_traps_total";

/// Runs of scheduled tasks, by task, customer and outcome.
pub const SCHEDULED_RUNS: &str = "conduit_scheduled_runs_total";
/// Scheduled task run duration in seconds, by task.
pub const SCHEDULED_DURATION: &str = "conduit_scheduled_run_duration_seconds";
/// Mapped objects, fields and values the CRM no longer allows, by customer,
/// as of the last schema check.
pub const SCHEMA_DRIFT: &str = "conduit_schema_drift_findings";

/// Latency buckets in seconds: a plugin call takes microseconds, a CRM call
/// milliseconds to seconds.
const BUCKETS: &[f64] = &[
    0.000_01, 0.000_1, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder, once; later calls keep the first.
pub fn install() {
    handle();
}

/// The recorder's handle, installing it on first use. `None` when another
/// recorder was installed first (an embedding program's own).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(recorder)
        })
        .as_ref()
}

/// The metrics in Prometheus's text format.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

fn describe() {
    describe_counter!(
        WRITES,
        "Records written, by customer, CRM object and outcome."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Records accepted and not answered yet, by customer."
    );
    describe_counter!(
        CRM_CALLS,
        "CRM API calls, by provider, endpoint and status."
    );
    describe_histogram!(
        CRM_LATENCY,
        "CRM API call latency, by provider and endpoint."
    );
    describe_counter!(RATE_LIMIT_WAITS, "Waits on a CRM rate limit, by provider.");
    describe_histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        "Each wait on a CRM rate limit, in seconds."
    );
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin hook calls, by plugin, hook and outcome."
    );
    describe_histogram!(
        PLUGIN_DURATION,
        "Plugin hook call duration, by plugin and hook."
    );
    describe_counter!(PLUGIN_TRAPS, "Plugin traps, by plugin, version and reason.");
    describe_counter!(
        SCHEDULED_RUNS,
        "Scheduled task runs, by task, customer and outcome."
    );
    describe_histogram!(SCHEDULED_DURATION, "Scheduled task run duration, by task.");
    describe_gauge!(
        SCHEMA_DRIFT,
        "Mapped objects, fields and values the CRM no longer allows, by customer."
    );
}

/// One record's outcome: `created`, `updated`, `unchanged`, `failed`,
/// `planned` or `replayed`.
pub fn write(customer: &str, object: &str, outcome: &'static str) {
    let labels = [
        ("customer", customer.to_owned()),
        ("object", object.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    counter!(WRITES, &labels).increment(1);
}

/// Records of `customer` entering (`delta` > 0) or leaving the host.
pub fn queue_depth(customer: &str, delta: f64) {
    gauge!(QUEUE_DEPTH, "customer" => customer.to_owned()).increment(delta);
}

/// One CRM call and how long it took. `status` is the HTTP status, or
/// `error` when no answer came.
pub fn crm_call(provider: &str, endpoint: &str, status: &str, elapsed: Duration) {
    let labels = [
        ("provider", provider.to_owned()),
        ("endpoint", endpoint.to_owned()),
    ];
    histogram!(CRM_LATENCY, &labels).record(elapsed.as_secs_f64());
    let labels = [
        ("provider", provider.to_owned()),
        ("endpoint", endpoint.to_owned()),
        ("status", status.to_owned()),
    ];
    counter!(CRM_CALLS, &labels).increment(1);
}

/// One wait on a CRM's rate limit.
pub fn rate_limit_wait(provider: &str, wait: Duration) {
    counter!(RATE_LIMIT_WAITS, "provider" => provider.to_owned()).increment(1);
    histogram!(RATE_LIMIT_WAIT_SECONDS, "provider" => provider.to_owned())
        .record(wait.as_secs_f64());
}

/// One plugin hook call. `outcome` is `ok`, `rejected` or `trapped`.
pub fn plugin_call(
    plugin: &str,
    version: &str,
    hook: &str,
    outcome: &'static str,
    elapsed: Duration,
) {
    let labels = [("plugin", plugin.to_owned()), ("hook", hook.to_owned())];
    histogram!(PLUGIN_DURATION, &labels).record(elapsed.as_secs_f64());
    let labels = [
        ("plugin", plugin.to_owned()),
        ("version", version.to_owned()),
        ("hook", hook.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    counter!(PLUGIN_CALLS, &labels).increment(1);
}

/// One plugin trap, with its reason's stable name.
pub fn plugin_trap(plugin: &str, version: &str, reason: &'static str) {
    let labels = [
        ("plugin", plugin.to_owned()),
        ("version", version.to_owned()),
        ("reason", reason.to_owned()),
    ];
    counter!(PLUGIN_TRAPS, &labels).increment(1);
}

/// One run of a scheduled task. `outcome` is `ok`, `failed` or
/// `lease_lost`.
pub fn scheduled_run(task: &str, customer: &str, outcome: &'static str, elapsed: Duration) {
    histogram!(SCHEDULED_DURATION, "task" => task.to_owned()).record(elapsed.as_secs_f64());
    let labels = [
        ("task", task.to_owned()),
        ("customer", customer.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    counter!(SCHEDULED_RUNS, &labels).increment(1);
}

/// How many drift findings `customer`'s last schema check left.
pub fn schema_drift(customer: &str, findings: usize) {
    gauge!(SCHEMA_DRIFT, "customer" => customer.to_owned()).set(findings as f64);
}
