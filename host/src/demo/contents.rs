//! What the simulated orgs hold once the demo is done, read from the
//! simulators themselves rather than from the host's answers: the proof that
//! the writes landed, owned by their reps and linked to their companies.

use std::fmt;

use serde_json::Value;

use conduit_crm_sim::{Sim, hubspot, salesforce};

/// One org's companies and deals, as stored in its simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgContents {
    /// Company records (`Account`, `companies`).
    pub companies: usize,
    /// Deal records (`Opportunity`, `deals`).
    pub deals: usize,
    /// Deals owned by a rep, not by the integration user.
    pub deals_owned_by_reps: usize,
    /// Deals linked to a company.
    pub deals_with_company: usize,
}

impl fmt::Display for OrgContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} companies, {} deals ({} owned by their rep, {} linked to a company)",
            self.companies, self.deals, self.deals_owned_by_reps, self.deals_with_company
        )
    }
}

/// Reads a Salesforce org's Accounts and Opportunities.
pub fn salesforce(sim: &Sim<salesforce::Org>) -> OrgContents {
    let integration_user = sim.org.integration_user_id();
    let deals = sim.org.records("Opportunity");
    let set = |deal: &serde_json::Map<String, Value>, field: &str| {
        deal.get(field)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    OrgContents {
        companies: sim.org.records("Account").len(),
        deals: deals.len(),
        deals_owned_by_reps: deals
            .iter()
            .filter(|d| set(d, "OwnerId") && d["OwnerId"] != integration_user.as_str())
            .count(),
        deals_with_company: deals.iter().filter(|d| set(d, "AccountId")).count(),
    }
}

/// Reads a HubSpot portal's companies and deals.
pub fn hubspot(sim: &Sim<hubspot::Org>) -> OrgContents {
    let deals = sim.org.records("deals");
    OrgContents {
        companies: sim.org.records("companies").len(),
        deals: deals.len(),
        deals_owned_by_reps: deals
            .iter()
            .filter(|d| {
                let owner = d.properties.get("hubspot_owner_id").and_then(Value::as_str);
                owner.is_some_and(|o| !o.is_empty())
            })
            .count(),
        deals_with_company: deals
            .iter()
            .filter(|d| d.associations.iter().any(|(to, _, _)| to == "companies"))
            .count(),
    }
}
