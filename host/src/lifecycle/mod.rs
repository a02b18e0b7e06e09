//! A plugin's life after it is built: upload (vetted and its fixture cases
//! run), approval by a second person, activation for a customer at a pinned
//! version, rollback, and a pause after repeated traps until CS resumes it.
//! Every step is audited with who took it.
//!
//! How activation relates to the customer's config: the config's `plugin:`
//! names the plugin, its settings and the version deployed with the config
//! (reviewed in git, like the rest of the config). An activation through
//! the API pins another version of that same plugin for that customer, in
//! force from the next batch without a restart or a deploy, and needs a
//! version approved by someone other than its uploader. Rolling back pops
//! the newest activation; with none left, the config's version is in force
//! again.

pub mod fixtures;
pub mod registry;
pub mod section;

pub use registry::{RELOAD_EVERY, Refusal, Registry, TRAPS_BEFORE_PAUSE, Uploaded};
