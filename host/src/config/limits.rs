//! `limits:`: how much of a customer's CRM API allocation conduit may use,
//! set in the integration file and overridable per customer.
//!
//! ```yaml
//! limits:
//!   salesforce_daily_ceiling: 0.8    # stop at 80% of the org's daily requests
//!   hubspot_ten_second_budget: 90    # calls per rolling ten seconds
//!   hubspot_search_per_second: 4     # search calls per second
//! ```

use serde::Deserialize;

/// The share of a Salesforce org's daily API requests conduit uses when the
/// config says nothing: a tenth stays for the customer's own tools.
pub const DEFAULT_SALESFORCE_CEILING: f64 = 0.9;
/// HubSpot's search limit: five calls per second per app and portal.
pub const DEFAULT_HUBSPOT_SEARCH_PER_SECOND: u32 = 5;

/// `limits:` as written in a file; unset keys fall through to the level
/// below (customer, then integration, then the defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// The share (above 0, at most 1) of the org's daily API requests, as
    /// Salesforce reports them in `Sforce-Limit-Info`, past which conduit
    /// sends nothing more for the customer.
    pub salesforce_daily_ceiling: Option<f64>,
    /// Calls per rolling ten seconds conduit makes to the customer's
    /// portal. Unset: the limit HubSpot announces in its
    /// `X-HubSpot-RateLimit-Max` header.
    pub hubspot_ten_second_budget: Option<u32>,
    /// Search calls per second.
    pub hubspot_search_per_second: Option<u32>,
}

impl LimitsFile {
    /// Each key the customer sets replaces the integration's.
    pub fn over(self, base: LimitsFile) -> LimitsFile {
        LimitsFile {
            salesforce_daily_ceiling: self
                .salesforce_daily_ceiling
                .or(base.salesforce_daily_ceiling),
            hubspot_ten_second_budget: self
                .hubspot_ten_second_budget
                .or(base.hubspot_ten_second_budget),
            hubspot_search_per_second: self
                .hubspot_search_per_second
                .or(base.hubspot_search_per_second),
        }
    }

    /// The effective limits, or what is wrong with a key and its name.
    pub fn resolve(self) -> Result<Limits, (&'static str, String)> {
        let ceiling = self
            .salesforce_daily_ceiling
            .unwrap_or(DEFAULT_SALESFORCE_CEILING);
        if !(ceiling > 0.0 && ceiling <= 1.0) {
            return Err((
                "salesforce_daily_ceiling",
                format!(
                    "`{ceiling}` is not a share of the daily allocation: give a number above 0 \
                     and at most 1, e.g. 0.8 to leave a fifth for the customer's own tools"
                ),
            ));
        }
        let positive = |key: &'static str, value: Option<u32>| match value {
            Some(0) => Err((
                key,
                "0 would stop every call; give at least 1, or leave the key out".to_owned(),
            )),
            _ => Ok(value),
        };
        let ten_second = positive("hubspot_ten_second_budget", self.hubspot_ten_second_budget)?;
        let search = positive("hubspot_search_per_second", self.hubspot_search_per_second)?;
        Ok(Limits {
            salesforce_daily_ceiling: ceiling,
            hubspot_ten_second_budget: ten_second,
            hubspot_search_per_second: search.unwrap_or(DEFAULT_HUBSPOT_SEARCH_PER_SECOND),
        })
    }
}

/// A customer's effective API limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The share of the org's daily API requests past which conduit stops.
    pub salesforce_daily_ceiling: f64,
    /// Calls per rolling ten seconds; none: what HubSpot announces.
    pub hubspot_ten_second_budget: Option<u32>,
    /// Search calls per second.
    pub hubspot_search_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            salesforce_daily_ceiling: DEFAULT_SALESFORCE_CEILING,
            hubspot_ten_second_budget: None,
            hubspot_search_per_second: DEFAULT_HUBSPOT_SEARCH_PER_SECOND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_overrides_the_integration_key_by_key() {
        let integration = LimitsFile {
            salesforce_daily_ceiling: Some(0.7),
            hubspot_search_per_second: Some(3),
            ..LimitsFile::default()
        };
        let customer = LimitsFile {
            salesforce_daily_ceiling: Some(0.5),
            ..LimitsFile::default()
        };
        let limits = customer
            .over(integration)
            .resolve()
            .expect("as the test sets it up");
        assert_eq!(limits.salesforce_daily_ceiling, 0.5);
        assert_eq!(limits.hubspot_search_per_second, 3);
        assert_eq!(limits.hubspot_ten_second_budget, None);
        assert_eq!(
            LimitsFile::default()
                .resolve()
                .expect("as the test sets it up"),
            Limits::default()
        );
    }

    #[test]
    fn a_ceiling_outside_zero_to_one_is_refused_by_name() {
        for bad in [0.0, -0.2, 1.5, f64::NAN] {
            let file = LimitsFile {
                salesforce_daily_ceiling: Some(bad),
                ..LimitsFile::default()
            };
            let (key, message) = file.resolve().expect_err("refused");
            assert_eq!(key, "salesforce_daily_ceiling", "{bad}");
            assert!(message.contains("at most 1"), "{message}");
        }
        let zero = LimitsFile {
            hubspot_ten_second_budget: Some(0),
            ..LimitsFile::default()
        };
        assert_eq!(
            zero.resolve().expect_err("refused").0,
            "hubspot_ten_second_budget"
        );
    }
}
