//! One identity's connection to a customer's CRM: the org-wide integration
//! user or one rep, with its current access token.
//!
//! Tokens live in the store, sealed, so that every replica uses the same
//! one. A refresh is leased in the store: one caller in one replica
//! refreshes, stores a rotated refresh token before the new access token is
//! used, and the others wait and read what it stored. A refresh the CRM
//! refuses marks the connection `needs_reauth` instead of retrying forever.

use std::time::Duration;

use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::{AccessToken, TokenError, token_grant};
use crate::config::Provider;
use crate::crm::CrmError;
use crate::store::{GrantSecrets, GrantState, ORG, Store, StoredAccess};

/// How long a refresh may hold its lease before another caller may take it.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);

/// How long a caller waits for another's refresh before giving up.
const WAIT: Duration = Duration::from_secs(15);

/// How often a waiting caller looks at the store.
const POLL: Duration = Duration::from_millis(50);

/// Whose connection this is, for errors and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The org-wide integration user.
    Org,
    /// A rep, by email in lowercase.
    Rep(String),
}

impl Identity {
    /// The store's subject for this identity.
    pub fn subject(&self) -> &str {
        match self {
            Identity::Org => ORG,
            Identity::Rep(email) => email,
        }
    }

    fn describe(&self) -> String {
        match self {
            Identity::Org => "the org-wide connection".into(),
            Identity::Rep(email) => format!("the connection of rep `{email}`"),
        }
    }
}

/// Where a connection's tokens come from.
enum Source {
    /// The stored grant's refresh token.
    Stored(Store),
    /// Salesforce's JWT bearer flow: the org's connected app signs an
    /// assertion for the rep, who is pre-authorised for it. Tokens are
    /// minted, not refreshed, so nothing of them is stored.
    Jwt {
        base_url: String,
        client_id: String,
        key: String,
    },
}

/// One identity's connection, its token cached here and kept in the store.
pub struct Connection {
    customer: String,
    identity: Identity,
    provider: Provider,
    source: Source,
    /// The cached token and the stored connection's generation it is of.
    token: Mutex<Option<(AccessToken, i64)>>,
    http: reqwest::Client,
}

impl Connection {
    /// The stored connection of `identity`; tokens come on first use.
    pub fn stored(
        customer: &str,
        identity: Identity,
        provider: Provider,
        store: Store,
        http: reqwest::Client,
    ) -> Self {
        Self {
            customer: customer.to_owned(),
            identity,
            provider,
            source: Source::Stored(store),
            token: Mutex::new(None),
            http,
        }
    }

    /// A rep's connection through the org's connected app (Salesforce JWT
    /// bearer): `key` is the app's private key in PEM.
    pub fn jwt(
        customer: &str,
        email: &str,
        base_url: &str,
        client_id: &str,
        key: &str,
        http: reqwest::Client,
    ) -> Self {
        Self {
            customer: customer.to_owned(),
            identity: Identity::Rep(email.to_owned()),
            provider: Provider::Salesforce,
            source: Source::Jwt {
                base_url: base_url.to_owned(),
                client_id: client_id.to_owned(),
                key: key.to_owned(),
            },
            token: Mutex::new(None),
            http,
        }
    }

    /// Whose connection this is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The customer this connection belongs to.
    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// The CRM it connects to.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The current token: the cached one while the stored connection is
    /// unchanged (another replica may have replaced, marked or removed it)
    /// and it is not about to expire; else the stored one, else a fresh one.
    pub async fn token(&self) -> Result<AccessToken, CrmError> {
        let mut token = self.token.lock().await;
        if let Some((current, generation)) = token.as_ref()
            && !current.expiring()
            && self.unchanged(*generation).await?
        {
            return Ok(current.clone());
        }
        let (fresh, generation) = self.obtain(None).await?;
        *token = Some((fresh.clone(), generation));
        Ok(fresh)
    }

    /// A token other than `rejected`, which the CRM just refused: another
    /// caller's newer one if there is one, else a fresh one.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, CrmError> {
        let mut token = self.token.lock().await;
        if let Some((current, generation)) = token.as_ref()
            && current.value != rejected.value
            && !current.expiring()
            && self.unchanged(*generation).await?
        {
            return Ok(current.clone());
        }
        let (fresh, generation) = self.obtain(Some(&rejected.value)).await?;
        *token = Some((fresh.clone(), generation));
        Ok(fresh)
    }

    /// Whether the stored connection is still the one a cached token of
    /// `generation` came from; an error when it is gone or marked.
    async fn unchanged(&self, generation: i64) -> Result<bool, CrmError> {
        let Source::Stored(store) = &self.source else {
            return Ok(true);
        };
        let state = store
            .grant_state(&self.customer, self.identity.subject())
            .await
            .map_err(|e| CrmError::connection(format!("reading the connection: {e:#}")))?;
        match state {
            None => Err(self.not_connected()),
            Some((GrantState::NeedsReauth, _)) => {
                Err(self.needs_reauth("it was marked for authorising again"))
            }
            Some((GrantState::Active, stored)) => Ok(stored == generation),
        }
    }

    /// A usable stored token, or a refresh under the store's lease, or the
    /// token another caller stored while this one waited; with the
    /// generation of the stored connection it belongs to.
    async fn obtain(&self, rejected: Option<&str>) -> Result<(AccessToken, i64), CrmError> {
        let store = match &self.source {
            Source::Stored(store) => store,
            Source::Jwt {
                base_url,
                client_id,
                key,
            } => return Ok((self.mint(base_url, client_id, key).await?, 0)),
        };
        let subject = self.identity.subject();
        let started = std::time::Instant::now();
        loop {
            let grant = store
                .grant(&self.customer, subject)
                .await
                .map_err(|e| CrmError::connection(format!("reading the connection: {e:#}")))?
                .ok_or_else(|| self.not_connected())?;
            if grant.state == GrantState::NeedsReauth {
                let reason = grant.reason.unwrap_or_default();
                return Err(self.needs_reauth(&reason));
            }
            if let Some(access) = grant.access.filter(|a| Some(a.value.as_str()) != rejected) {
                let token = AccessToken {
                    value: access.value,
                    api_base: access.api_base,
                    expires_at: access.expires_at,
                };
                if !token.expiring() {
                    return Ok((token, grant.generation));
                }
            }

            let leased = store
                .lease_refresh(&self.customer, subject, LEASE, grant.generation)
                .await
                .map_err(|e| CrmError::connection(format!("leasing the refresh: {e:#}")))?;
            if leased {
                let generation = grant.generation;
                let base_url = grant.base_url;
                let refreshed = self.refresh(
                    store,
                    &base_url,
                    &grant.client_id,
                    grant.secrets,
                    generation,
                );
                match refreshed.await? {
                    Some(done) => return Ok(done),
                    // Replaced while refreshing: use what replaced it.
                    None => continue,
                }
            }
            if started.elapsed() > WAIT {
                return Err(CrmError::connection(format!(
                    "{} is being refreshed elsewhere and no new token appeared within {}s",
                    self.identity.describe(),
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Refreshes under the lease and stores the outcome, if the stored
    /// connection is still `generation`: a new token (and a rotated refresh
    /// token), or the connection marked `needs_reauth` when the CRM refused
    /// the grant. None when the connection was replaced meanwhile.
    async fn refresh(
        &self,
        store: &Store,
        base_url: &str,
        client_id: &str,
        mut secrets: GrantSecrets,
        generation: i64,
    ) -> Result<Option<(AccessToken, i64)>, CrmError> {
        let subject = self.identity.subject();
        debug!(customer = %self.customer, provider = %self.provider, "refreshing access token");
        let Some(refresh_token) = secrets.refresh_token.clone() else {
            let reason = "no refresh token is stored";
            self.mark(store, reason, generation).await;
            return Err(self.needs_reauth(reason));
        };
        // A rep's grant refreshes through the org's app, with its current
        // secret: rotating the app's secret must not cut every rep off.
        let (client_id, client_secret) = self.app_credentials(store, client_id, &secrets).await;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("refresh_token", refresh_token.as_str()),
        ];
        let answer = match token_grant(&self.http, self.provider, base_url, &form).await {
            Ok(answer) => answer,
            // Only a refusal of the grant itself needs a person; an outage
            // or a rate limit at the token endpoint passes, and the lease
            // lapses for the next caller to try again.
            Err(TokenError::Refused { status, reason, .. }) if matches!(status, 400 | 401) => {
                info!(
                    customer = %self.customer,
                    provider = %self.provider,
                    status,
                    error.type = "token_refresh_refused",
                    "token refresh refused; connection needs authorising again"
                );
                if !self.mark(store, &reason, generation).await {
                    return Ok(None);
                }
                return Err(self.needs_reauth(&reason));
            }
            Err(TokenError::Refused { status, reason, .. }) => {
                return Err(CrmError {
                    status: Some(status),
                    code: "token_endpoint_unavailable".into(),
                    message: format!(
                        "{}'s token endpoint answered {status} ({reason}) while refreshing {}",
                        self.provider,
                        self.identity.describe()
                    ),
                    fields: Vec::new(),
                    retryable: true,
                    retry_at: None,
                });
            }
            Err(other @ TokenError::Unexpected { .. }) => {
                return Err(CrmError::protocol(other.to_string()));
            }
            Err(other) => return Err(CrmError::connection(other.to_string())),
        };

        // A rotated refresh token replaces the old one in the store before
        // the new access token is used: the old one no longer works.
        let token = answer.access(self.provider, base_url);
        if let Some(rotated) = answer.refresh_token {
            secrets.refresh_token = Some(rotated);
        }
        let stored = StoredAccess {
            value: token.value.clone(),
            api_base: token.api_base.clone(),
            expires_at: token.expires_at,
        };
        let stored = store
            .store_refresh(&self.customer, subject, &secrets, &stored, generation)
            .await
            .map_err(|e| CrmError::connection(format!("storing the refreshed token: {e:#}")))?;
        Ok(stored.map(|generation| (token, generation)))
    }

    /// The app credentials a refresh goes through: for a rep, the org
    /// connection's current ones; else this connection's own.
    async fn app_credentials(
        &self,
        store: &Store,
        client_id: &str,
        secrets: &GrantSecrets,
    ) -> (String, String) {
        if let Identity::Rep(_) = self.identity
            && let Ok(Some(org)) = store.grant(&self.customer, ORG).await
        {
            return (org.client_id, org.secrets.client_secret);
        }
        (client_id.to_owned(), secrets.client_secret.clone())
    }

    /// Marks the connection `needs_reauth` if it is still `generation`;
    /// false when it was replaced meanwhile.
    async fn mark(&self, store: &Store, reason: &str, generation: i64) -> bool {
        let subject = self.identity.subject();
        match store
            .mark_needs_reauth(&self.customer, subject, reason, generation)
            .await
        {
            Ok(marked) => marked,
            Err(e) => {
                warn!(customer = %self.customer, error = %format!("{e:#}"), "not marked");
                true
            }
        }
    }

    /// A token for the rep from the JWT bearer flow.
    async fn mint(
        &self,
        base_url: &str,
        client_id: &str,
        key: &str,
    ) -> Result<AccessToken, CrmError> {
        let Identity::Rep(username) = &self.identity else {
            return Err(CrmError::protocol(
                "the JWT bearer flow acts only as a rep".into(),
            ));
        };
        let audience = base_url.trim_end_matches('/');
        let assertion =
            super::jwt_assertion(key, client_id, username, audience).map_err(CrmError::protocol)?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        match token_grant(&self.http, self.provider, base_url, &form).await {
            Ok(answer) => Ok(answer.access(self.provider, base_url)),
            Err(TokenError::Refused { reason, .. }) => Err(CrmError {
                status: None,
                code: "rep_not_authorized".into(),
                message: format!(
                    "{} refused to let the org's app act as rep `{username}` ({reason}); \
                     the rep must be pre-authorised for the connected app",
                    self.provider
                ),
                fields: Vec::new(),
                retryable: false,
                retry_at: None,
            }),
            Err(other) => Err(CrmError::connection(other.to_string())),
        }
    }

    fn not_connected(&self) -> CrmError {
        let (code, message) = match &self.identity {
            Identity::Org => (
                "not_connected",
                format!("customer `{}` has no CRM connection yet", self.customer),
            ),
            Identity::Rep(email) => (
                "rep_not_connected",
                format!(
                    "rep `{email}` has not connected their {} account for customer `{}`",
                    self.provider, self.customer
                ),
            ),
        };
        CrmError {
            status: None,
            code: code.into(),
            message,
            fields: Vec::new(),
            retryable: false,
            retry_at: None,
        }
    }

    fn needs_reauth(&self, reason: &str) -> CrmError {
        let code = match self.identity {
            Identity::Org => "needs_reauth",
            Identity::Rep(_) => "rep_needs_reauth",
        };
        CrmError {
            status: None,
            code: code.into(),
            message: format!(
                "{} refused to refresh {} ({reason}); it must be authorised again",
                self.provider,
                self.identity.describe()
            ),
            fields: Vec::new(),
            retryable: false,
            retry_at: None,
        }
    }
}
