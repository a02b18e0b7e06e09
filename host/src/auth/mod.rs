//! Connections to a customer's CRM: the credentials, the token endpoints,
//! and (in [`Connection`]) the current access token, refreshed before it
//! expires and when the CRM says it did.

mod connection;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use connection::{Connection, Identity};

use crate::config::Provider;

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
    /// The connected app's private key (PEM), with which it acts as reps
    /// who are pre-authorised for it (Salesforce JWT bearer flow).
    #[serde(default)]
    pub jwt_key: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("jwt_key", &self.jwt_key.as_ref().map(|_| "<redacted>"))
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
    /// When the CRM said it expires, if it said.
    pub expires_at: Option<DateTime<Utc>>,
}

impl AccessToken {
    /// Whether it expires within the next minute, so that a call made with
    /// it now could be refused on the way.
    pub fn expiring(&self) -> bool {
        self.expires_at
            .is_some_and(|at| at - chrono::Duration::seconds(60) <= Utc::now())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("api_base", &self.api_base)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a token endpoint answered.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub instance_url: Option<String>,
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires (HubSpot; Salesforce does not
    /// say).
    pub expires_in: Option<i64>,
    /// Salesforce's identity URL, ending in the id of the user who granted.
    pub id: Option<String>,
}

/// Who granted `answer`'s token: Salesforce's user id (from the identity
/// URL) or HubSpot's user email (from the access-token endpoint).
pub(crate) async fn granted_by(
    http: &reqwest::Client,
    provider: Provider,
    base_url: &str,
    answer: &TokenResponse,
) -> Result<String, String> {
    match provider {
        Provider::Salesforce => answer
            .id
            .as_deref()
            .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
            .map(str::to_owned)
            .ok_or_else(|| "the token answer names no user".to_owned()),
        Provider::Hubspot => {
            let url = format!(
                "{}/oauth/v1/access-tokens/{}",
                base_url.trim_end_matches('/'),
                answer.access_token
            );
            let info: serde_json::Value = http
                .get(url)
                .send()
                .await
                .map_err(|e| format!("asking HubSpot whose token it is: {e}"))?
                .json()
                .await
                .map_err(|e| format!("reading HubSpot's token information: {e}"))?;
            info.get("user")
                .and_then(|u| u.as_str())
                .map(str::to_lowercase)
                .ok_or_else(|| "HubSpot names no user for the token".to_owned())
        }
    }
}

impl TokenResponse {
    /// The access token, with its API base and expiry.
    pub(crate) fn access(&self, provider: Provider, base_url: &str) -> AccessToken {
        let api_base = match provider {
            Provider::Salesforce => self.instance_url.as_deref().unwrap_or(base_url),
            Provider::Hubspot => base_url,
        };
        AccessToken {
            value: self.access_token.clone(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            expires_at: self
                .expires_in
                .map(|seconds| Utc::now() + chrono::Duration::seconds(seconds)),
        }
    }
}

/// Checks that `pem` is an RSA private key the JWT bearer flow can sign
/// with.
pub fn check_jwt_key(pem: &str) -> Result<(), String> {
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map(|_| ())
        .map_err(|e| format!("not an RSA private key in PEM ({e})"))
}

/// A signed assertion for Salesforce's JWT bearer flow: the app
/// (`client_id`) asks for a token as `username`, for three minutes.
pub(crate) fn jwt_assertion(
    pem: &str,
    client_id: &str,
    username: &str,
    audience: &str,
) -> Result<String, String> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        exp: i64,
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("the stored JWT key is unusable: {e}"))?;
    let claims = Claims {
        iss: client_id,
        sub: username,
        aud: audience,
        exp: (Utc::now() + chrono::Duration::minutes(3)).timestamp(),
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing: {e}"))
}

/// The page a rep opens to grant the org's app access as themselves; the
/// CRM sends them back to `redirect_uri` with a code and `state`.
pub fn authorize_url(
    provider: Provider,
    base_url: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    login_hint: &str,
) -> String {
    let base = base_url.trim_end_matches('/');
    let (path, extra) = match provider {
        Provider::Salesforce => ("/services/oauth2/authorize", ("response_type", "code")),
        Provider::Hubspot => ("/oauth/authorize", ("scope", HUBSPOT_SCOPES)),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(extra.0, extra.1)
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("login_hint", login_hint)
        .finish();
    format!("{base}{path}?{query}")
}

/// What a rep's HubSpot grant must allow: reading and writing the objects
/// conduit writes.
const HUBSPOT_SCOPES: &str = "crm.objects.contacts.write crm.objects.companies.write \
                              crm.objects.deals.write crm.objects.owners.read";

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
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
        ("refresh_token", credentials.refresh_token.as_str()),
    ];
    token_grant(http, provider, &credentials.base_url, &form).await
}

/// One grant (`form`) against the provider's token endpoint at `base_url`.
pub(crate) async fn token_grant(
    http: &reqwest::Client,
    provider: Provider,
    base_url: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, TokenError> {
    let path = match provider {
        Provider::Salesforce => "/services/oauth2/token",
        Provider::Hubspot => "/oauth/v1/token",
    };
    let url = format!("{}{path}", base_url.trim_end_matches('/'));

    // The causes say why: refused, timed out, no such host.
    let unreachable = |e: reqwest::Error| TokenError::Unreachable {
        provider,
        detail: format!("{:#}", anyhow::Error::new(e)),
    };
    let response = http
        .post(&url)
        .form(form)
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
