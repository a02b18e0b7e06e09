//! One file setting up both simulators, as `conduit sim --profile FILE` reads it:
//!
//! ```yaml
//! salesforce:          # a salesforce::Profile; the default org if left out
//!   oauth_clients: [{ client_id: conduit-demo, client_secret: demo-secret,
//!                     refresh_token: sf-refresh-integration }]
//!   custom_objects: [{ name: Sales_Activity__c }]
//! hubspot:             # a hubspot::Profile; the default portal if left out
//!   oauth_clients: [{ client_id: conduit-demo, client_secret: demo-secret,
//!                     refresh_token: hs-refresh-integration }]
//! ```

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use crate::{hubspot, salesforce};

/// The profiles of both simulators.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    /// The Salesforce org.
    pub salesforce: salesforce::Profile,
    /// The HubSpot portal.
    pub hubspot: hubspot::Profile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    salesforce: Option<serde_yaml::Value>,
    #[serde(default)]
    hubspot: Option<serde_yaml::Value>,
}

impl Profiles {
    /// Reads both profiles from a YAML file with `salesforce` and `hubspot` keys.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read simulator profile `{}`", path.display()))?;
        Self::from_yaml_str(&text)
            .with_context(|| format!("invalid simulator profile `{}`", path.display()))
    }

    /// Parses both profiles from YAML text.
    pub fn from_yaml_str(text: &str) -> anyhow::Result<Self> {
        let file: File = serde_yaml::from_str(text).context("failed to parse profile yaml")?;
        let salesforce = match file.salesforce {
            Some(value) => {
                let text = serde_yaml::to_string(&value)?;
                salesforce::Profile::from_yaml_str(&text).context("in `salesforce`")?
            }
            None => salesforce::Profile::default(),
        };
        let hubspot = match file.hubspot {
            Some(value) => {
                let text = serde_yaml::to_string(&value)?;
                hubspot::Profile::from_yaml_str(&text).context("in `hubspot`")?
            }
            None => hubspot::Profile::default(),
        };
        Ok(Self {
            salesforce,
            hubspot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_half_may_be_left_out_and_mistakes_are_named() {
        let yaml = "hubspot:\n  oauth_clients: [{client_id: a, client_secret: b, \
                    refresh_token: c}]\n  private_app_tokens: [pat-1]\n";
        let profiles = Profiles::from_yaml_str(yaml).expect("parsed");
        assert_eq!(profiles.hubspot.private_app_tokens, ["pat-1"]);
        assert_eq!(
            profiles.salesforce.oauth_clients[0].client_id,
            "conduit-demo"
        );
        let error = Profiles::from_yaml_str("salesforce:\n  bogus: 1\n").expect_err("refused");
        assert!(
            format!("{error:#}").contains("in `salesforce`"),
            "{error:#}"
        );
    }
}
