//! The public "CRM Sales Opportunities" dataset, read as an agent would send
//! it: accounts become companies, opportunities become deals, sales agents
//! become the reps the agent acts for. Blank cells are left out of the
//! intent, never sent as empty values; the dataset's typos are sent as they
//! are, for the customers' configs and plugins to handle.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Account {
    account: String,
    sector: String,
    year_established: String,
    revenue: String,
    employees: String,
    office_location: String,
    subsidiary_of: String,
}

#[derive(Deserialize)]
struct Opportunity {
    opportunity_id: String,
    sales_agent: String,
    product: String,
    account: String,
    deal_stage: String,
    engage_date: String,
    close_date: String,
    close_value: String,
}

#[derive(Deserialize)]
struct SalesAgent {
    sales_agent: String,
}

/// A rep: name and the email the agent knows them by.
#[derive(Debug, Clone)]
pub struct Rep {
    /// First name.
    pub first: String,
    /// Last name.
    pub last: String,
}

impl Rep {
    /// The rep's email at a customer's domain.
    pub fn email(&self, domain: &str) -> String {
        let part = |s: &str| s.to_lowercase().replace(' ', "");
        format!("{}.{}@{domain}", part(&self.first), part(&self.last))
    }
}

/// The dataset as agent write intents (without idempotency keys and reps'
/// emails, which depend on the customer and the run).
pub struct Dataset {
    /// Companies that are nobody's subsidiary: sent first.
    pub parents: Vec<Value>,
    /// Companies that name a parent company.
    pub subsidiaries: Vec<Value>,
    /// Deals, each with the rep's name under `rep`.
    pub deals: Vec<(Value, String)>,
    /// Reps by full name.
    pub reps: BTreeMap<String, Rep>,
}

/// Reads the reps of `dir/sales_teams.csv`, by full name.
pub fn load_reps(dir: &Path) -> anyhow::Result<BTreeMap<String, Rep>> {
    let mut reps = BTreeMap::new();
    for agent in read::<SalesAgent>(&dir.join("sales_teams.csv"))? {
        let (first, last) = agent
            .sales_agent
            .split_once(' ')
            .unwrap_or((&agent.sales_agent, ""));
        reps.insert(
            agent.sales_agent.clone(),
            Rep {
                first: first.to_owned(),
                last: last.to_owned(),
            },
        );
    }
    Ok(reps)
}

/// Reads `dir/{accounts,sales_pipeline,sales_teams}.csv`.
pub fn load(dir: &Path) -> anyhow::Result<Dataset> {
    let mut parents = Vec::new();
    let mut subsidiaries = Vec::new();
    for account in read::<Account>(&dir.join("accounts.csv"))? {
        let mut fields = serde_json::Map::new();
        put(&mut fields, "name", &account.account);
        put(&mut fields, "sector", &account.sector);
        put(&mut fields, "year_established", &account.year_established);
        put_number(&mut fields, "revenue", &account.revenue);
        put_number(&mut fields, "employees", &account.employees);
        put(&mut fields, "office_location", &account.office_location);
        put(&mut fields, "subsidiary_of", &account.subsidiary_of);
        let intent = json!({
            "entity": "company",
            "operation": "upsert",
            "key": account.account,
            "fields": fields,
        });
        if account.subsidiary_of.trim().is_empty() {
            parents.push(intent);
        } else {
            subsidiaries.push(intent);
        }
    }

    let reps = load_reps(dir)?;

    let mut deals = Vec::new();
    for opp in read::<Opportunity>(&dir.join("sales_pipeline.csv"))? {
        let mut fields = serde_json::Map::new();
        let name = if opp.account.trim().is_empty() {
            format!("{} ({})", opp.product, opp.opportunity_id)
        } else {
            format!("{} for {}", opp.product, opp.account)
        };
        put(&mut fields, "name", &name);
        put(&mut fields, "account", &opp.account);
        put(&mut fields, "product", &opp.product);
        put(&mut fields, "stage", &opp.deal_stage);
        put(&mut fields, "engage_date", &opp.engage_date);
        put(&mut fields, "close_date", &opp.close_date);
        put_number(&mut fields, "amount", &opp.close_value);
        let intent = json!({
            "entity": "deal",
            "operation": "upsert",
            "key": opp.opportunity_id,
            "fields": fields,
        });
        deals.push((intent, opp.sales_agent));
    }
    Ok(Dataset {
        parents,
        subsidiaries,
        deals,
        reps,
    })
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{}: row {}", path.display(), i + 2)))
        .collect()
}

fn put(fields: &mut serde_json::Map<String, Value>, name: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        fields.insert(name.to_owned(), value.into());
    }
}

/// Numbers go as JSON numbers when they parse, else as the text the dataset
/// has, for the schema check to judge.
fn put_number(fields: &mut serde_json::Map<String, Value>, name: &str, value: &str) {
    let value = value.trim();
    if value.is_empty() {
        return;
    }
    let parsed = value
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64);
    fields.insert(
        name.to_owned(),
        parsed.map(Value::Number).unwrap_or_else(|| value.into()),
    );
}
