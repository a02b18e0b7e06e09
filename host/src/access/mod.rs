//! Who may call the API: API keys, their roles and the customers they are
//! scoped to, and which role may call which route.
//!
//! A caller is a [`Principal`]: the key it presented (or the host's
//! `CONDUIT_API_KEY`, an admin key, or nobody on a host with no key at all).
//! [`policy::allowed`] says which roles may call a route; a route under
//! `/customers/{customer}` is also refused to a key scoped to other
//! customers.

pub mod policy;

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do; see [`policy`] for the routes of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An AI agent: writes and reads the data of the customers it lists.
    Agent,
    /// Customer success: connects customers, approves, activates, rolls back
    /// and resumes plugins.
    Cs,
    /// A vendor engineer: uploads plugins and reads schemas to write them.
    Engineer,
    /// Everything, including managing keys.
    Admin,
}

impl Role {
    /// Every role, for messages.
    pub const ALL: [Role; 4] = [Role::Agent, Role::Cs, Role::Engineer, Role::Admin];

    /// The role's name as the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Cs => "cs",
            Role::Engineer => "engineer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("no role `{text}`; roles are agent, cs, engineer and admin"))
    }
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The key's id: what the two-person rule compares.
    pub id: String,
    /// The name the key was given, for the audit.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The customers the key is scoped to; empty means every customer.
    pub customers: Vec<String>,
}

impl Principal {
    /// The caller presenting the host's `CONDUIT_API_KEY`.
    pub fn host_key() -> Self {
        Principal {
            id: "host-key".into(),
            name: "CONDUIT_API_KEY".into(),
            role: Role::Admin,
            customers: Vec::new(),
        }
    }

    /// Any caller of a host that has no key at all (the demo, a laptop).
    pub fn open_host() -> Self {
        Principal {
            id: "open-host".into(),
            name: "anyone (the host has no API key)".into(),
            role: Role::Admin,
            customers: Vec::new(),
        }
    }

    /// Whether this caller may touch `customer`'s data.
    pub fn may_act_for(&self, customer: &str) -> bool {
        self.customers.is_empty() || self.customers.iter().any(|c| c == customer)
    }

    /// The caller as the operator audit names it: `name (id)`.
    pub fn who(&self) -> String {
        format!("{} ({})", self.name, self.id)
    }
}

/// The prefix of every key this host issues, so a leaked one is easy to
/// find in logs and repositories.
pub const KEY_PREFIX: &str = "cdk_";

/// A fresh key: its id, the secret to hand out once, and the hash to store.
pub fn new_key() -> (String, String, String) {
    let id = hex::encode(rand::random::<[u8; 6]>());
    let secret = format!("{KEY_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let hash = hash_key(&secret);
    (id, secret, hash)
}

/// The sha256 of a presented key, in hex: what the store looks keys up by.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Creates a key for `name` with `role` over `customers` (empty: every
/// customer), stores its hash and audits who made it. Answers the stored
/// key and the secret, which is shown this once and kept nowhere.
pub async fn create_key(
    store: &crate::store::Store,
    actor: &Principal,
    name: &str,
    role: Role,
    customers: Vec<String>,
) -> anyhow::Result<(crate::store::ApiKey, String)> {
    if role == Role::Agent && customers.is_empty() {
        anyhow::bail!("an `agent` key must name the customers it acts for");
    }
    let (id, secret, hash) = new_key();
    let key = crate::store::ApiKey {
        id,
        name: name.to_owned(),
        role,
        customers,
        created_by: actor.who(),
        created_at: chrono::Utc::now().to_rfc3339(),
        revoked_at: None,
    };
    store.put_api_key(&key, &hash).await?;
    let detail = serde_json::json!({ "key": key.id, "name": key.name, "role": key.role,
                                     "customers": key.customers });
    let action = crate::store::Action {
        action: "key.create",
        detail,
        ..Default::default()
    };
    store.audit_operator(actor, action).await?;
    tracing::info!(key = %key.id, role = %key.role, by = %actor.id, "API key created");
    Ok((key, secret))
}

/// Revokes key `id` and audits who did; false when no such key is live.
pub async fn revoke_key(
    store: &crate::store::Store,
    actor: &Principal,
    id: &str,
) -> anyhow::Result<bool> {
    if !store.revoke_api_key(id).await? {
        return Ok(false);
    }
    let action = crate::store::Action {
        action: "key.revoke",
        detail: serde_json::json!({ "key": id }),
        ..Default::default()
    };
    store.audit_operator(actor, action).await?;
    tracing::info!(key = %id, by = %actor.id, "API key revoked");
    Ok(true)
}

/// The operator of the `conduit key` command, as the audit names it.
pub fn command_line() -> Principal {
    Principal {
        id: "command-line".into(),
        name: "conduit key".into(),
        role: Role::Admin,
        customers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_as_they_are_written() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_scoped_key_acts_only_for_its_customers() {
        let agent = Principal {
            id: "a".into(),
            name: "agent".into(),
            role: Role::Agent,
            customers: vec!["globex".into()],
        };
        assert!(agent.may_act_for("globex"));
        assert!(!agent.may_act_for("northwind"));
        assert!(Principal::host_key().may_act_for("northwind"));
    }

    #[test]
    fn keys_are_unique_and_stored_only_as_their_hash() {
        let (id_a, key_a, hash_a) = new_key();
        let (id_b, key_b, hash_b) = new_key();
        assert_ne!(id_a, id_b);
        assert_ne!(key_a, key_b);
        assert_eq!(hash_key(&key_a), hash_a);
        assert_ne!(hash_a, hash_b);
        assert!(!hash_a.contains(&key_a[KEY_PREFIX.len()..]));
    }
}
