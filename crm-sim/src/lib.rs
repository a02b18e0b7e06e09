//! Salesforce- and HubSpot-compatible simulators.
//!
//! Each simulator serves one org on loopback with the real API's paths, bodies and error shapes,
//! so that conduit's host, its demo and plugin authors never need a real CRM:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use conduit_crm_sim::salesforce;
//!
//! let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
//! let client = sim.org.oauth_client();
//! println!("{} refresh token {}", sim.base_url, client.refresh_token);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Both servers also expose an admin surface under `/__sim/` to seed users or owners and to
//! inspect the requests they served.

// The describe field template is one large `json!` literal.
#![recursion_limit = "256"]

mod faults;
pub mod hubspot;
mod index;
mod profiles;
mod redirect;
mod request_log;
pub mod salesforce;
mod server;

pub use faults::Faults;
pub use profiles::Profiles;
pub use request_log::LoggedRequest;
pub use server::Sim;

/// The OAuth client credentials pre-issued to the integration user of a simulated org.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    /// The connected app's (Salesforce) or public app's (HubSpot) client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// A refresh token the token endpoint accepts for this client.
    pub refresh_token: String,
}
