//! The conduit host: takes write intents from AI sales agents and applies them
//! to each customer's Salesforce or HubSpot org, safely and per the
//! customer's own configuration.
//!
//! One write passes through the modules in this order: [`api`] takes the
//! batch, [`config`] resolves the customer's effective config, [`mapping`]
//! applies the declarative mapping, [`plugin`] runs the customer's plugin,
//! [`schema`] checks every field, [`export`] plans per field what to write,
//! [`owner`] attributes the record to the rep, [`crm`] sends it, and
//! [`store`] keeps the audit. [`pipeline`] drives those steps for a batch.

pub mod access;
pub mod api;
pub mod auth;
pub mod author;
pub mod config;
pub mod crm;
pub mod demo;
pub mod drift;
pub mod export;
pub mod lifecycle;
pub mod mapping;
pub mod owner;
pub mod pipeline;
pub mod plugin;
pub mod record;
pub mod schedule;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod transport;
