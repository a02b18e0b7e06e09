//! Owner attribution: the rep the agent acts for becomes the CRM owner of
//! the records it creates, so territory and assignment rules route them to
//! that rep and not to the integration user.
//!
//! Reps are found by email (Salesforce `User.Email`, HubSpot owner `email`)
//! and cached per customer for a while, so a batch costs one lookup per new
//! rep at most. A rep the CRM does not know is not cached: once an admin adds
//! the user, the agent's retry finds them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::crm::{Crm, CrmError};

/// How long a rep's owner id is trusted before it is looked up again.
const TTL: Duration = Duration::from_secs(15 * 60);

/// A customer's cache of rep email to CRM owner id.
#[derive(Default)]
pub struct OwnerDirectory {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl OwnerDirectory {
    /// The owner id of each email (lowercased), looking up the ones not
    /// cached; a rep the CRM does not know maps to `None`.
    pub async fn resolve(
        &self,
        crm: &Crm,
        emails: &[String],
    ) -> Result<HashMap<String, Option<String>>, CrmError> {
        let mut entries = self.entries.lock().await;
        let mut missing: Vec<String> = emails
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| entries.get(e).is_none_or(|(_, at)| at.elapsed() > TTL))
            .collect();
        missing.sort();
        missing.dedup();

        if !missing.is_empty() {
            let found = crm.find_owners(&missing).await?;
            let now = Instant::now();
            for (email, id) in found {
                entries.insert(email, (id, now));
            }
        }

        Ok(emails
            .iter()
            .map(|e| {
                let key = e.trim().to_lowercase();
                let id = entries
                    .get(&key)
                    .filter(|(_, at)| at.elapsed() <= TTL)
                    .map(|(id, _)| id.clone());
                (key, id)
            })
            .collect())
    }
}
