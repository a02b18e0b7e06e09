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
    /// Activity records, in whichever objects the customer keeps them.
    pub activities: usize,
    /// Activities owned by a rep, not by the integration user.
    pub activities_owned_by_reps: usize,
    /// Activities linked to a deal.
    pub activities_with_deal: usize,
}

impl fmt::Display for OrgContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} companies, {} deals ({} owned by their rep, {} linked to a company), \
             {} activities ({} owned by their rep, {} linked to a deal)",
            self.companies,
            self.deals,
            self.deals_owned_by_reps,
            self.deals_with_company,
            self.activities,
            self.activities_owned_by_reps,
            self.activities_with_deal
        )
    }
}

/// Reads a Salesforce org's Accounts, Opportunities and the activities in
/// `activity_objects`; an activity is linked to a deal when one of its
/// lookups holds an Opportunity's Id (`WhatId`, `Opportunity__c`).
pub fn salesforce(sim: &Sim<salesforce::Org>, activity_objects: &[&str]) -> OrgContents {
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
        ..salesforce_activities(sim, activity_objects, &deals)
    }
}

fn salesforce_activities(
    sim: &Sim<salesforce::Org>,
    objects: &[&str],
    deals: &[serde_json::Map<String, Value>],
) -> OrgContents {
    let integration_user = sim.org.integration_user_id();
    let deal_ids: std::collections::HashSet<&str> =
        deals.iter().filter_map(|d| d.get("Id")?.as_str()).collect();
    let activities: Vec<_> = objects.iter().flat_map(|o| sim.org.records(o)).collect();
    let owned = |a: &serde_json::Map<String, Value>| {
        let owner = a.get("OwnerId").and_then(Value::as_str);
        owner.is_some_and(|o| !o.is_empty() && o != integration_user)
    };
    let on_deal = |a: &serde_json::Map<String, Value>| {
        a.iter()
            .any(|(name, v)| name != "Id" && v.as_str().is_some_and(|v| deal_ids.contains(v)))
    };
    OrgContents {
        activities: activities.len(),
        activities_owned_by_reps: activities.iter().filter(|a| owned(a)).count(),
        activities_with_deal: activities.iter().filter(|a| on_deal(a)).count(),
        ..OrgContents::default()
    }
}

/// Reads a HubSpot portal's companies, deals and the engagements in
/// `activity_objects`.
pub fn hubspot(sim: &Sim<hubspot::Org>, activity_objects: &[&str]) -> OrgContents {
    let activities: Vec<_> = activity_objects
        .iter()
        .flat_map(|o| sim.org.records(o))
        .collect();
    let owned = |r: &hubspot::HubspotRecord| {
        let owner = r.properties.get("hubspot_owner_id").and_then(Value::as_str);
        owner.is_some_and(|o| !o.is_empty())
    };
    let linked =
        |r: &hubspot::HubspotRecord, to: &str| r.associations.iter().any(|(t, _, _)| t == to);
    let deals = sim.org.records("deals");
    OrgContents {
        companies: sim.org.records("companies").len(),
        deals: deals.len(),
        deals_owned_by_reps: deals.iter().filter(|d| owned(d)).count(),
        deals_with_company: deals.iter().filter(|d| linked(d, "companies")).count(),
        activities: activities.len(),
        activities_owned_by_reps: activities.iter().filter(|a| owned(a)).count(),
        activities_with_deal: activities.iter().filter(|a| linked(a, "deals")).count(),
    }
}
