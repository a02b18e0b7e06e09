//! End-to-end tests: the real host, the simulators and compiled plugins.

mod demo;
mod plugin_sandbox;
mod sandbox_over_http;
mod write_path;
