//! A plugin built against `conduit:plugin@0.2.0`, a contract newer than any
//! host of this repository runs: the host must refuse it at upload, naming
//! both versions. Only what makes the component import the newer `host`
//! interface is declared.

// wit-bindgen's exports are `#[unsafe(export_name)]` functions, and the
// items it generates carry the WIT's documentation, which this one lacks.
#![allow(
    unsafe_code,
    reason = "the bindings wit-bindgen generates export by name"
)]
#![allow(
    missing_docs,
    reason = "generated bindings of an undocumented test contract"
)]

wit_bindgen::generate!({
    inline: r#"
        package conduit:plugin@0.2.0;

        interface host {
            log-line: func(message: string);
        }

        interface hooks {
            ping: func() -> u32;
        }

        world plugin {
            import host;
            export hooks;
        }
    "#,
});

/// The plugin.
struct FutureContract;

impl exports::conduit::plugin::hooks::Guest for FutureContract {
    fn ping() -> u32 {
        conduit::plugin::host::log_line("ping");
        1
    }
}

export!(FutureContract);
