//! Connections to a customer's CRM: the credentials, the current access
//! token, and refreshing it when the CRM says it expired.
//!
//! One refresh runs at a time per connection: callers that saw the same
//! rejected token wait for the refresh in flight instead of starting another.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::config::Provider;
use crate::crm::CrmError;

/// What the host needs to obtain tokens for one customer's org.
#[derive(Clone, Deserialize, serde::Serialize)]
pub struct Credentials {
    /// The org's login or API base URL, e.g. `https://login.salesforce.com`.
    pub base_url: String,
    /// The connected app's or HubSpot app's client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The refresh token of the integration user's grant.
    pub refresh_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// A usable access token.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer value.
    pub value: String,
    /// Where API calls go (Salesforce's `instance_url`; HubSpot's base URL).
    pub api_base: String,
    /// Increases with every refresh, so a caller can tell whether the token
    /// it was refused with is still the current one.
    pub generation: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("api_base", &self.api_base)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// One customer's connection to its CRM.
pub struct Connection {
    customer: String,
    provider: Provider,
    credentials: Mutex<Credentials>,
    token: Mutex<Option<AccessToken>>,
    generation: AtomicU64,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: Option<String>,
    refresh_token: Option<String>,
}

impl Connection {
    /// A connection that fetches its first token on first use.
    pub fn new(
        customer: &str,
        provider: Provider,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Self {
        Self {
            customer: customer.to_owned(),
            provider,
            credentials: Mutex::new(credentials),
            token: Mutex::new(None),
            generation: AtomicU64::new(0),
            http,
        }
    }

    /// The customer this connection belongs to.
    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// The CRM it connects to.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The current token, fetching one if there is none yet.
    pub async fn token(&self) -> Result<AccessToken, CrmError> {
        let mut token = self.token.lock().await;
        if let Some(current) = token.as_ref() {
            return Ok(current.clone());
        }
        let fresh = self.refresh().await?;
        *token = Some(fresh.clone());
        Ok(fresh)
    }

    /// Replaces `rejected` with a fresh token, unless another caller already
    /// did: then that caller's token is returned.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, CrmError> {
        let mut token = self.token.lock().await;
        if let Some(current) = token.as_ref()
            && current.generation != rejected.generation
        {
            return Ok(current.clone());
        }
        let fresh = self.refresh().await?;
        *token = Some(fresh.clone());
        Ok(fresh)
    }

    async fn refresh(&self) -> Result<AccessToken, CrmError> {
        let mut credentials = self.credentials.lock().await;
        debug!(customer = %self.customer, provider = %self.provider, "refreshing access token");
        let parsed = request_token(&self.http, self.provider, &credentials)
            .await
            .map_err(|e| self.refresh_error(e))?;

        // A provider that rotates refresh tokens invalidates the old one.
        if let Some(rotated) = parsed.refresh_token {
            credentials.refresh_token = rotated;
        }
        let api_base = match self.provider {
            Provider::Salesforce => parsed.instance_url.unwrap_or(credentials.base_url.clone()),
            Provider::Hubspot => credentials.base_url.clone(),
        };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken {
            value: parsed.access_token,
            api_base: api_base.trim_end_matches('/').to_owned(),
            generation,
        })
    }

    /// What a failed refresh of a stored connection means for the write.
    fn refresh_error(&self, error: TokenError) -> CrmError {
        match error {
            TokenError::Refused { status, reason, .. } => {
                info!(
                    customer = %self.customer,
                    provider = %self.provider,
                    status,
                    error.type = "token_refresh_refused",
                    "token refresh refused"
                );
                CrmError {
                    status: Some(status),
                    code: "needs_reauth".into(),
                    message: format!(
                        "{} refused to refresh the connection's token ({reason}); \
                         the connection must be authorised again",
                        self.provider
                    ),
                    fields: Vec::new(),
                    retryable: false,
                }
            }
            TokenError::Unreachable { .. } => CrmError::connection(error.to_string()),
            TokenError::Unexpected { .. } => CrmError::protocol(error.to_string()),
        }
    }
}

/// Why the token endpoint gave no access token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The endpoint answered with an error: wrong client, secret or refresh
    /// token, or the CRM is unavailable (`status` tells which).
    #[error("{provider} refused the credentials: {reason}")]
    Refused {
        /// The CRM.
        provider: Provider,
        /// The HTTP status of the answer.
        status: u16,
        /// The CRM's own message.
        reason: String,
    },
    /// No answer: the base URL is wrong or the CRM is down.
    #[error("token endpoint of {provider} unreachable: {detail}")]
    Unreachable {
        /// The CRM.
        provider: Provider,
        /// What the HTTP client saw.
        detail: String,
    },
    /// A success answer that holds no token.
    #[error("unexpected token response from {provider}: {detail}")]
    Unexpected {
        /// The CRM.
        provider: Provider,
        /// What could not be read.
        detail: String,
    },
}

/// Checks `credentials` by obtaining one access token with them, so that
/// wrong ones are refused when they are given rather than on the first write.
///
/// Returns the credentials to store: a provider that rotates refresh tokens
/// has just invalidated the one sent.
pub async fn verify(
    http: &reqwest::Client,
    provider: Provider,
    mut credentials: Credentials,
) -> Result<Credentials, TokenError> {
    let token = request_token(http, provider, &credentials).await?;
    if let Some(rotated) = token.refresh_token {
        credentials.refresh_token = rotated;
    }
    Ok(credentials)
}

/// One refresh-token grant against the provider's token endpoint.
async fn request_token(
    http: &reqwest::Client,
    provider: Provider,
    credentials: &Credentials,
) -> Result<TokenResponse, TokenError> {
    let path = match provider {
        Provider::Salesforce => "/services/oauth2/token",
        Provider::Hubspot => "/oauth/v1/token",
    };
    let url = format!("{}{path}", credentials.base_url.trim_end_matches('/'));
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
        ("refresh_token", credentials.refresh_token.as_str()),
    ];

    // The causes say why: refused, timed out, no such host.
    let unreachable = |e: reqwest::Error| TokenError::Unreachable {
        provider,
        detail: format!("{:#}", anyhow::Error::new(e)),
    };
    let response = http
        .post(&url)
        .form(&form)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        return Err(TokenError::Refused {
            provider,
            status: status.as_u16(),
            reason: refusal_reason(&body),
        });
    }

    TokenResponse::deserialize(&body).map_err(|e| TokenError::Unexpected {
        provider,
        detail: e.to_string(),
    })
}

/// The CRM's message in a token error: Salesforce's `error_description`,
/// HubSpot's `message`.
fn refusal_reason(body: &serde_json::Value) -> String {
    body.get("error_description")
        .or_else(|| body.get("message"))
        .and_then(|v| v.as_str())
        .unwrap_or("no reason given")
        .to_owned()
}
