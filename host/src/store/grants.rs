//! Stored connections ("grants"): who writes into a customer's CRM, with
//! what, and whether that still works. Every secret goes through the
//! store's [`SecretKey`](crate::secrets::SecretKey) on its way in and out.

use std::fmt;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, now, timestamp};
use crate::auth::Credentials;

/// The subject of the org-wide connection: the integration user.
pub const ORG: &str = "";

/// Whether a connection can still obtain tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Tokens are issued.
    Active,
    /// The CRM refused to refresh: someone must authorise it again.
    NeedsReauth,
}

/// The secret part of a connection.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSecrets {
    /// The app's client secret.
    pub client_secret: String,
    /// The refresh token of the grant, when it has one.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The connected app's private key (PEM) for the JWT bearer flow.
    #[serde(default)]
    pub jwt_key: Option<String>,
}

impl fmt::Debug for GrantSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantSecrets")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_key", &self.jwt_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// An access token as stored, so that other replicas use it instead of
/// refreshing again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccess {
    /// The bearer value.
    pub value: String,
    /// Where API calls go.
    pub api_base: String,
    /// When the CRM said it expires, if it said.
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for StoredAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAccess")
            .field("api_base", &self.api_base)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One stored connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The customer.
    pub customer: String,
    /// [`ORG`] or the rep's email in lowercase.
    pub subject: String,
    /// `salesforce` or `hubspot`.
    pub provider: String,
    /// How tokens are obtained: `refresh_token`.
    pub method: String,
    /// The CRM's login or API base URL.
    pub base_url: String,
    /// The app's client id.
    pub client_id: String,
    /// Secrets, opened.
    pub secrets: GrantSecrets,
    /// The last access token stored, opened.
    pub access: Option<StoredAccess>,
    /// Whether it still works.
    pub state: GrantState,
    /// Why it needs authorising again.
    pub reason: Option<String>,
    /// Grows with each stored refresh.
    pub generation: i64,
}

impl Grant {
    /// The org-wide connection made from an operator's credentials.
    pub fn org(customer: &str, provider: &str, credentials: Credentials) -> Self {
        Self {
            customer: customer.to_owned(),
            subject: ORG.into(),
            provider: provider.to_owned(),
            method: "refresh_token".into(),
            base_url: credentials.base_url,
            client_id: credentials.client_id,
            secrets: GrantSecrets {
                client_secret: credentials.client_secret,
                refresh_token: Some(credentials.refresh_token),
                jwt_key: credentials.jwt_key,
            },
            access: None,
            state: GrantState::Active,
            reason: None,
            generation: 0,
        }
    }
}

/// What the admin API shows of a connection: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantSummary {
    /// `org` or the rep's email.
    pub subject: String,
    /// The CRM.
    pub provider: String,
    /// The CRM's base URL.
    pub base_url: String,
    /// `active` or `needs_reauth`.
    pub state: GrantState,
    /// Why it needs authorising again.
    pub reason: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

impl Store {
    /// Saves a connection as working, replacing the subject's old one.
    pub async fn put_grant(&self, grant: &Grant) -> anyhow::Result<()> {
        let secrets = self.key.seal(&serde_json::to_string(&grant.secrets)?);
        let access = grant
            .access
            .as_ref()
            .map(|a| serde_json::to_string(a).map(|json| self.key.seal(&json)))
            .transpose()?;
        sqlx::query(
            "INSERT INTO grants (customer, subject, provider, method, base_url, client_id, \
             secrets, access, state, reason, generation, lease_until, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', NULL, 1, NULL, $9) \
             ON CONFLICT (customer, subject) DO UPDATE SET provider = excluded.provider, \
             method = excluded.method, base_url = excluded.base_url, \
             client_id = excluded.client_id, secrets = excluded.secrets, \
             access = excluded.access, state = 'active', reason = NULL, \
             generation = grants.generation + 1, lease_until = NULL, \
             updated_at = excluded.updated_at",
        )
        .bind(&grant.customer)
        .bind(&grant.subject)
        .bind(&grant.provider)
        .bind(&grant.method)
        .bind(&grant.base_url)
        .bind(&grant.client_id)
        .bind(secrets)
        .bind(access)
        .bind(now())
        .execute(&self.pool)
        .await
        .context("saving a connection")?;
        Ok(())
    }

    /// One stored connection, opened.
    pub async fn grant(&self, customer: &str, subject: &str) -> anyhow::Result<Option<Grant>> {
        let row = sqlx::query(
            "SELECT provider, method, base_url, client_id, secrets, access, state, reason, \
             generation FROM grants WHERE customer = $1 AND subject = $2",
        )
        .bind(customer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .context("reading a connection")?;
        let Some(row) = row else { return Ok(None) };

        let secrets: String = row.get("secrets");
        let secrets = serde_json::from_str(&self.key.open(&secrets)?)
            .context("reading a connection's secrets")?;
        let access = match row.get::<Option<String>, _>("access") {
            Some(sealed) => Some(
                serde_json::from_str(&self.key.open(&sealed)?)
                    .context("reading a stored access token")?,
            ),
            None => None,
        };
        let state: String = row.get("state");
        Ok(Some(Grant {
            customer: customer.to_owned(),
            subject: subject.to_owned(),
            provider: row.get("provider"),
            method: row.get("method"),
            base_url: row.get("base_url"),
            client_id: row.get("client_id"),
            secrets,
            access,
            state: if state == "needs_reauth" {
                GrantState::NeedsReauth
            } else {
                GrantState::Active
            },
            reason: row.get("reason"),
            generation: row.get("generation"),
        }))
    }

    /// Every connection of a customer, without secrets, org-wide first.
    pub async fn grants(&self, customer: &str) -> anyhow::Result<Vec<GrantSummary>> {
        let rows = sqlx::query(
            "SELECT subject, provider, base_url, state, reason, updated_at FROM grants \
             WHERE customer = $1 ORDER BY subject",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .context("listing connections")?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let subject: String = r.get("subject");
                let state: String = r.get("state");
                GrantSummary {
                    subject: if subject == ORG {
                        "org".into()
                    } else {
                        subject
                    },
                    provider: r.get("provider"),
                    base_url: r.get("base_url"),
                    state: if state == "needs_reauth" {
                        GrantState::NeedsReauth
                    } else {
                        GrantState::Active
                    },
                    reason: r.get("reason"),
                    updated_at: r.get("updated_at"),
                }
            })
            .collect())
    }

    /// Takes the right to refresh a connection for `hold`, unless another
    /// caller (here or in another replica) holds it, or already refreshed
    /// it past `generation`: a caller that read the connection before that
    /// refresh must use its result, not present a spent refresh token.
    /// True when taken.
    pub async fn lease_refresh(
        &self,
        customer: &str,
        subject: &str,
        hold: Duration,
        generation: i64,
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let taken = sqlx::query(
            "UPDATE grants SET lease_until = $1 WHERE customer = $2 AND subject = $3 \
             AND generation = $4 AND (lease_until IS NULL OR lease_until < $5)",
        )
        .bind(timestamp(now + hold))
        .bind(customer)
        .bind(subject)
        .bind(generation)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await
        .context("leasing a connection's refresh")?;
        Ok(taken.rows_affected() == 1)
    }

    /// A connection's state and generation, without opening its secrets:
    /// what a cached token is checked against before each use.
    pub async fn grant_state(
        &self,
        customer: &str,
        subject: &str,
    ) -> anyhow::Result<Option<(GrantState, i64)>> {
        let row = sqlx::query(
            "SELECT state, generation FROM grants WHERE customer = $1 AND subject = $2",
        )
        .bind(customer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .context("reading a connection's state")?;
        Ok(row.map(|r| {
            let state: String = r.get("state");
            let state = if state == "needs_reauth" {
                GrantState::NeedsReauth
            } else {
                GrantState::Active
            };
            (state, r.get("generation"))
        }))
    }

    /// Stores what a refresh gave, a rotated refresh token first of all, and
    /// gives the lease back, if the connection is still `generation`: a
    /// connection replaced meanwhile keeps its new grant. Returns the new
    /// generation, or none when it was replaced.
    pub async fn store_refresh(
        &self,
        customer: &str,
        subject: &str,
        secrets: &GrantSecrets,
        access: &StoredAccess,
        generation: i64,
    ) -> anyhow::Result<Option<i64>> {
        let secrets = self.key.seal(&serde_json::to_string(secrets)?);
        let access = self.key.seal(&serde_json::to_string(access)?);
        let row = sqlx::query(
            "UPDATE grants SET secrets = $1, access = $2, generation = generation + 1, \
             lease_until = NULL, updated_at = $3 \
             WHERE customer = $4 AND subject = $5 AND generation = $6 RETURNING generation",
        )
        .bind(secrets)
        .bind(access)
        .bind(now())
        .bind(customer)
        .bind(subject)
        .bind(generation)
        .fetch_optional(&self.pool)
        .await
        .context("storing a refreshed token")?;
        Ok(row.map(|r| r.get("generation")))
    }

    /// Marks a connection as needing authorisation again, with the CRM's
    /// reason, and gives the lease back, if it is still `generation`.
    /// False when it was replaced meanwhile (the refusal was of the old
    /// grant).
    pub async fn mark_needs_reauth(
        &self,
        customer: &str,
        subject: &str,
        reason: &str,
        generation: i64,
    ) -> anyhow::Result<bool> {
        let marked = sqlx::query(
            "UPDATE grants SET state = 'needs_reauth', reason = $1, access = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE customer = $3 AND subject = $4 AND generation = $5",
        )
        .bind(reason)
        .bind(now())
        .bind(customer)
        .bind(subject)
        .bind(generation)
        .execute(&self.pool)
        .await
        .context("marking a connection")?;
        Ok(marked.rows_affected() == 1)
    }

    /// Removes a connection. True if there was one.
    pub async fn delete_grant(&self, customer: &str, subject: &str) -> anyhow::Result<bool> {
        let deleted = sqlx::query("DELETE FROM grants WHERE customer = $1 AND subject = $2")
            .bind(customer)
            .bind(subject)
            .execute(&self.pool)
            .await
            .context("removing a connection")?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Remembers the `state` of an authorization-code flow for ten minutes,
    /// with whom it is for and where the CRM sends the rep back.
    pub async fn put_oauth_state(&self, state: &str, flow: &OAuthFlow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO oauth_states (state, customer, subject, redirect_uri, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state)
        .bind(&flow.customer)
        .bind(&flow.subject)
        .bind(&flow.redirect_uri)
        .bind(timestamp(Utc::now() + Duration::minutes(10)))
        .execute(&self.pool)
        .await
        .context("saving an authorization state")?;
        Ok(())
    }

    /// The flow a live `state` was issued for; a state is used once.
    pub async fn take_oauth_state(&self, state: &str) -> anyhow::Result<Option<OAuthFlow>> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state = $1 AND expires_at > $2 \
             RETURNING customer, subject, redirect_uri",
        )
        .bind(state)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .context("reading an authorization state")?;
        Ok(row.map(|r| OAuthFlow {
            customer: r.get("customer"),
            subject: r.get("subject"),
            redirect_uri: r.get("redirect_uri"),
        }))
    }
}

/// An authorization-code flow in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFlow {
    /// The customer.
    pub customer: String,
    /// The rep's email in lowercase.
    pub subject: String,
    /// Where the CRM sends the rep back with the code.
    pub redirect_uri: String,
}
