//! End-to-end tests: the real host, the simulators and compiled plugins.

mod access;
mod activities;
mod api_input;
mod author_loop;
mod batches;
mod connections;
mod crm_clients;
mod dashboard;
mod demo;
mod export_semantics;
mod idempotency;
mod metrics;
mod openapi;
mod operations;
mod owners;
mod plugin_lifecycle;
mod plugin_sandbox;
mod python_plugin;
mod sandbox_over_http;
mod schema_drift;
mod schema_snapshots;
mod write_path;
