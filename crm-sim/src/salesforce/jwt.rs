//! The OAuth 2.0 JWT bearer grant: a connected app signs an assertion naming a user with its
//! private key, and gets an access token for that user (no refresh token).
//!
//! Checks, in order, each with Salesforce's answer: the assertion parses (`invalid assertion`),
//! `iss` is a connected app (`invalid_client_id`), the signature verifies with the app's
//! registered key (`invalid assertion`), `aud` is a login URL (`audience is invalid`), `exp` is
//! in the future (`expired authorization code`) and at most five minutes ahead (`invalid
//! assertion`), and `sub` is a user pre-authorized for the app (`user hasn't approved this
//! consumer`).

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::Org;
use super::oauth::{Form, OAuthError};
use super::store::OrgState;

/// The `grant_type` of the JWT bearer grant.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The audiences Salesforce accepts besides the org's own URL.
const LOGIN_URLS: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// How far ahead an assertion's `exp` may be, in seconds.
const MAX_LIFETIME: u64 = 300;

const INVALID_ASSERTION: OAuthError = OAuthError::invalid_grant("invalid assertion");

/// The claims Salesforce reads; `aud` may be a string or a list.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Value,
    exp: u64,
}

/// Answers the JWT bearer grant.
pub(crate) fn bearer(org: &Org, form: &Form) -> Result<Value, OAuthError> {
    let assertion = form.get("assertion").unwrap_or_default();
    let claims = verified_claims(org, assertion)?;
    check_audience(&org.base_url, &claims.aud)?;
    check_expiry(claims.exp)?;
    org.with_state(|s| {
        let user = approved_user(s, &claims.iss, &claims.sub).ok_or(OAuthError::invalid_grant(
            "user hasn't approved this consumer",
        ))?;
        let access = s.auth.new_session(&user, None, s.ttl);
        Ok(org.token_body(&access, &user, None))
    })
}

/// The assertion's claims once its signature verified with the issuing app's key.
fn verified_claims(org: &Org, assertion: &str) -> Result<Claims, OAuthError> {
    let unverified: Claims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| INVALID_ASSERTION)?;
    let pem = org.with_state(|s| {
        if !s.clients.iter().any(|c| c.client_id == unverified.iss) {
            return Err(OAuthError::new(
                "invalid_client_id",
                "client identifier invalid",
            ));
        }
        s.auth
            .jwt_keys
            .get(&unverified.iss)
            .cloned()
            .ok_or(INVALID_ASSERTION)
    })?;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| INVALID_ASSERTION)?;

    // Signature only: the claims get their own checks, each with its own answer.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let verified = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|_| INVALID_ASSERTION)?;
    Ok(verified.claims)
}

fn check_audience(base_url: &str, aud: &Value) -> Result<(), OAuthError> {
    let accepted = |a: &str| {
        let a = a.trim_end_matches('/');
        a == base_url || LOGIN_URLS.contains(&a)
    };
    let ok = match aud {
        Value::String(a) => accepted(a),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(OAuthError::invalid_grant("audience is invalid"))
    }
}

fn check_expiry(exp: u64) -> Result<(), OAuthError> {
    let now = jsonwebtoken::get_current_timestamp();
    if exp <= now {
        return Err(OAuthError::invalid_grant("expired authorization code"));
    }
    if exp > now + MAX_LIFETIME {
        return Err(INVALID_ASSERTION);
    }
    Ok(())
}

/// The Id of `username` when an admin pre-authorized that user for `client_id`.
fn approved_user(s: &OrgState, client_id: &str, username: &str) -> Option<String> {
    let user = s.user_id(username)?;
    let approved = s
        .auth
        .preauthorized
        .iter()
        .filter(|(client, _)| client == client_id)
        .any(|(_, name)| s.user_id(name).as_deref() == Some(user.as_str()));
    approved.then_some(user)
}

/// Whether `pem` is an RSA public key the grant can verify with.
pub(crate) fn check_key(pem: &str) -> anyhow::Result<()> {
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("not an rsa public key in pem: {e}"))
}
