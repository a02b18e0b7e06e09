//! The guest side of the conduit plugin contract (`wit/plugin.wit`).
//!
//! A plugin maps one customer's data in a way the declarative mapping cannot:
//! a stage that depends on two other fields, an activity written as a custom
//! object. It does no I/O; it can read the customer's discovered schema and its
//! own settings through a [`Host`], and everything else is denied by the host.
//!
//! # Writing a plugin
//!
//! 1. Make a `cdylib` + `rlib` crate that depends on `conduit-plugin-sdk`.
//! 2. Implement [`Plugin`] for a `Default` type, overriding only the hooks you
//!    need; every hook has a default that leaves the host's draft alone.
//! 3. Export it with [`export_plugin!`], and build it with
//!    `cargo build --release --target wasm32-wasip2`.
//! 4. Test the logic natively with `cargo test` and a [`testing::FakeHost`]:
//!    the hooks take a `&dyn Host`, so no wasm runtime is needed.
//!
//! ```
//! use conduit_plugin_sdk::{AgentRecord, Host, LogLevel, Plugin, PluginError, Value};
//!
//! /// Sends every deal of a known partner to the `partner` pipeline stage.
//! #[derive(Default)]
//! pub struct PartnerDeals;
//!
//! impl Plugin for PartnerDeals {
//!     fn translate_status(
//!         &self,
//!         host: &dyn Host,
//!         _object: &str,
//!         _field: &str,
//!         status: &str,
//!         record: &AgentRecord,
//!     ) -> Result<Option<Value>, PluginError> {
//!         host.log(LogLevel::Debug, "translating a deal stage");
//!         let partner = record.text("partner").is_some();
//!         Ok(partner.then(|| Value::from(format!("partner_{status}"))))
//!     }
//! }
//!
//! conduit_plugin_sdk::export_plugin!(PartnerDeals);
//!
//! // Natively, the same logic runs against a fake host.
//! use conduit_plugin_sdk::testing::FakeHost;
//! let record = AgentRecord::new("deal").with_field("partner", "Initech");
//! let host = FakeHost::new();
//! let stage = PartnerDeals.translate_status(&host, "deals", "dealstage", "won", &record);
//! assert_eq!(stage, Ok(Some(Value::from("partner_won"))));
//! ```
//!
//! # What a plugin may see
//!
//! The schema and settings of the one customer the host is calling it for.
//! Memory is capped and each call has a CPU deadline; a plugin that panics,
//! loops or allocates without bound fails that one call and is restarted. An
//! expected failure belongs in a [`PluginError`], which the agent receives for
//! the one record it concerns.

mod helpers;
mod host;
mod plugin;
pub mod testing;

#[doc(hidden)]
pub mod guest;

/// The code wit-bindgen generates from `wit/plugin.wit`; use the re-exports at
/// the crate root instead.
#[doc(hidden)]
#[allow(
    missing_docs,
    reason = "generated; the WIT documents every item that matters"
)]
#[allow(
    unsafe_code,
    reason = "the canonical ABI glue wit-bindgen generates is unsafe"
)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit",
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
    });
}

pub use bindings::conduit::plugin::types::{
    Activity, ActivityKind, AgentRecord, Association, CrmRecord, CrmWrite, Field, FieldSchema,
    FieldType, LogLevel, MatchKey, ObjectSchema, Operation, PicklistValue, PluginError,
    RelatedRecord, Target, Value,
};
pub use host::Host;
pub use plugin::Plugin;

/// Exports a [`Plugin`] implementation as the component's `hooks`.
///
/// The type must implement [`Plugin`] and [`Default`]; a fresh value is made
/// for every call, so a plugin keeps no state between records. Use it once, at
/// the root of the plugin crate. On a native target it type-checks the glue
/// and exports nothing, so the crate's `cargo test` runs natively:
///
/// ```ignore
/// conduit_plugin_sdk::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[allow(
            unsafe_code,
            reason = "the canonical ABI glue wit-bindgen generates is unsafe"
        )]
        const _: () = {
            #[cfg_attr(
                not(target_arch = "wasm32"),
                allow(dead_code, reason = "only a wasm build exports the hooks")
            )]
            struct ConduitPluginExports;

            impl $crate::guest::Guest for ConduitPluginExports {
                fn map_record(
                    record: $crate::AgentRecord,
                    draft: ::std::vec::Vec<$crate::CrmWrite>,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::CrmWrite>, $crate::PluginError>
                {
                    $crate::guest::map_record::<$plugin>(record, draft)
                }

                fn map_activity(
                    activity: $crate::Activity,
                    draft: ::std::vec::Vec<$crate::CrmWrite>,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::CrmWrite>, $crate::PluginError>
                {
                    $crate::guest::map_activity::<$plugin>(activity, draft)
                }

                fn translate_status(
                    object: ::std::string::String,
                    field: ::std::string::String,
                    status: ::std::string::String,
                    record: $crate::AgentRecord,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::Value>,
                    $crate::PluginError,
                > {
                    $crate::guest::translate_status::<$plugin>(object, field, status, record)
                }

                fn map_inbound(
                    record: $crate::CrmRecord,
                    draft: $crate::AgentRecord,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::AgentRecord>,
                    $crate::PluginError,
                > {
                    $crate::guest::map_inbound::<$plugin>(record, draft)
                }
            }

            // The export names (`conduit:plugin/hooks@0.1.0#map-record`) are not
            // valid native symbols, so a native build (unit tests, benches)
            // compiles the glue but exports nothing.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_plugin_world!(
                ConduitPluginExports with_types_in $crate::bindings
            );
        };
    };
}
