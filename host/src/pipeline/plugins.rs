//! The customer's plugin for a batch: the version in force, refused while
//! paused, and the batch's traps counted towards a pause.

use std::sync::Arc;

use super::prepare::{Prepared, Unprepared};
use super::{Pipeline, RecordError};
use crate::config::CustomerConfig;
use crate::plugin::Plugin;

/// What `prepare_all` answers per record.
type PreparedItem = Result<Prepared, Unprepared>;

impl Pipeline {
    /// The plugin `config` runs (its version already the one in force), or
    /// the error every record of the batch fails with: not uploaded, or
    /// paused after repeated traps.
    pub(crate) fn customer_plugin(
        &self,
        config: &CustomerConfig,
    ) -> Result<Option<Arc<Plugin>>, RecordError> {
        let Some(p) = &config.plugin else {
            return Ok(None);
        };
        if let Some(pause) = self.registry.pause(&config.customer, &p.name, &p.version) {
            let mut error = RecordError::input(
                "plugin_paused",
                format!(
                    "plugin `{}` {} is paused for customer `{}` since {}: {}; CS resumes it \
                     with `POST /v1/customers/{}/plugin/resume` or activates another version",
                    p.name,
                    p.version,
                    config.customer,
                    pause.paused_at,
                    pause.reason,
                    config.customer
                ),
                None,
            );
            error.plugin = Some(format!("{}@{}", p.name, p.version));
            return Err(error);
        }
        let plugin = self.registry.get(&p.name, &p.version).ok_or_else(|| {
            RecordError::input(
                "plugin_missing",
                format!(
                    "customer `{}` runs plugin `{}` {}, which has not been uploaded",
                    config.customer, p.name, p.version
                ),
                None,
            )
        })?;
        Ok(Some(plugin))
    }

    /// Counts the batch's records that the plugin trapped on (or answered
    /// out of contract for) against those it handled.
    pub(super) async fn observe_plugin(&self, config: &CustomerConfig, prepared: &[PreparedItem]) {
        let Some(p) = &config.plugin else { return };
        let outcomes: Vec<(bool, Option<String>)> = prepared
            .iter()
            .filter_map(|item| match item {
                Ok(_) => Some((false, None)),
                Err(failed) if failed.2.code == "plugin_failed" => {
                    Some((true, Some(failed.2.message.clone())))
                }
                Err(_) => None,
            })
            .collect();
        self.registry
            .observe(&config.customer, &p.name, &p.version, outcomes)
            .await;
    }
}
