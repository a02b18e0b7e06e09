//! Who a token belongs to: access tokens (sessions), refresh tokens grouped in grants, one-time
//! authorization codes, and the connected apps' JWT keys and pre-authorized users.
//!
//! A grant is one user's approval of one client. Every refresh token descended from it, and
//! every access token they minted, belongs to it, so revoking the grant ends them all. With
//! rotation on, each refresh retires the token it was given; a retired token presented again
//! means two parties hold it (a leak, or two refreshes racing), and Salesforce then revokes the
//! whole grant rather than guess which party is legitimate.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long an authorization code can be exchanged, as in Salesforce.
const CODE_TTL: Duration = Duration::from_secs(600);

/// A live or expired access token.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The user the token acts as.
    pub user: String,
    /// When the token stops working.
    pub expires: Instant,
    /// The grant it was minted from; `None` for JWT bearer tokens, which have no refresh token.
    pub grant: Option<u64>,
}

/// One user's approval of one client.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    user: String,
}

/// A refresh token: its grant, and whether rotation has retired it.
#[derive(Debug, Clone)]
struct RefreshToken {
    grant: u64,
    retired: bool,
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    /// The client it was issued to.
    pub client_id: String,
    /// The user who approved.
    pub user: String,
    /// The `redirect_uri` of the authorize request; the exchange must repeat it.
    pub redirect_uri: String,
    expires: Instant,
}

/// What a refresh-token grant resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refreshed {
    /// The user to mint an access token for.
    pub user: String,
    /// The grant, for the new access token.
    pub grant: u64,
    /// The refresh token to hand back when rotation is on.
    pub rotated: Option<String>,
}

/// Why an authorization code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRefused {
    /// Never issued, or already exchanged.
    Unknown,
    /// Issued more than ten minutes ago.
    Expired,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not issued here, or its grant was revoked.
    Unknown,
    /// Rotation had retired it: the grant is now revoked.
    Reused,
}

/// Every token of the org, behind the org's lock.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    sessions: HashMap<String, Session>,
    refresh_tokens: HashMap<String, RefreshToken>,
    grants: HashMap<u64, Grant>,
    codes: HashMap<String, Code>,
    next_grant: u64,
    /// Whether each refresh answers a new refresh token and retires the old one.
    pub rotate: bool,
    /// Public keys (PEM) that verify each client's JWT bearer assertions.
    pub jwt_keys: HashMap<String, String>,
    /// (client id, username) pairs an admin pre-authorized for JWT bearer.
    pub preauthorized: HashSet<(String, String)>,
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl Grants {
    /// Starts a grant for `user` on `client_id` with the refresh token `token`.
    pub fn insert_grant(&mut self, client_id: &str, user: &str, token: &str) -> u64 {
        let id = self.next_grant;
        self.next_grant += 1;
        let grant = Grant {
            client_id: client_id.to_owned(),
            user: user.to_owned(),
        };
        self.grants.insert(id, grant);
        let refresh = RefreshToken {
            grant: id,
            retired: false,
        };
        self.refresh_tokens.insert(token.to_owned(), refresh);
        id
    }

    /// Starts a grant with a fresh refresh token; returns the grant and the token.
    pub fn new_grant(&mut self, client_id: &str, user: &str) -> (u64, String) {
        let token = random_token("5Aep861");
        let id = self.insert_grant(client_id, user, &token);
        (id, token)
    }

    /// Mints an access token for `user` that lives `ttl`.
    pub fn new_session(&mut self, user: &str, grant: Option<u64>, ttl: Duration) -> String {
        let token = random_token("00D5g000004SimA!");
        let session = Session {
            user: user.to_owned(),
            expires: Instant::now() + ttl,
            grant,
        };
        self.sessions.insert(token.clone(), session);
        token
    }

    /// The user a live access token acts as.
    pub fn session_user(&self, token: &str) -> Option<String> {
        let session = self.sessions.get(token)?;
        (session.expires > Instant::now()).then(|| session.user.clone())
    }

    /// Ends every access token now, as if they had all expired.
    pub fn expire_sessions(&mut self) {
        let now = Instant::now();
        self.sessions.values_mut().for_each(|s| s.expires = now);
    }

    /// Resolves a refresh token that `client_id` presented, rotating it when rotation is on.
    /// A token of another client is unknown to this one.
    pub fn refresh(&mut self, token: &str, client_id: &str) -> Result<Refreshed, Refused> {
        let known = self.refresh_tokens.get(token).cloned();
        let ours = |r: &RefreshToken| {
            self.grants
                .get(&r.grant)
                .is_some_and(|g| g.client_id == client_id)
        };
        let Some(refresh) = known.filter(ours) else {
            return Err(Refused::Unknown);
        };
        if refresh.retired {
            self.revoke_grant(refresh.grant);
            return Err(Refused::Reused);
        }
        let grant = self.grants[&refresh.grant].clone();
        let rotated = self.rotate.then(|| {
            let next = random_token("5Aep861");
            let retired = RefreshToken {
                grant: refresh.grant,
                retired: true,
            };
            self.refresh_tokens.insert(token.to_owned(), retired);
            let fresh = RefreshToken {
                grant: refresh.grant,
                retired: false,
            };
            self.refresh_tokens.insert(next.clone(), fresh);
            next
        });
        Ok(Refreshed {
            user: grant.user,
            grant: refresh.grant,
            rotated,
        })
    }

    /// Revokes a grant: its refresh tokens and the access tokens they minted.
    fn revoke_grant(&mut self, grant: u64) {
        self.grants.remove(&grant);
        self.refresh_tokens.retain(|_, r| r.grant != grant);
        self.sessions.retain(|_, s| s.grant != Some(grant));
    }

    /// Revokes a refresh token (with its whole grant) or a single access token; returns
    /// whether the token was known.
    pub fn revoke(&mut self, token: &str) -> bool {
        if let Some(refresh) = self.refresh_tokens.get(token) {
            let grant = refresh.grant;
            self.revoke_grant(grant);
            return true;
        }
        self.sessions.remove(token).is_some()
    }

    /// Issues a one-time authorization code.
    pub fn new_code(&mut self, client_id: &str, user: &str, redirect_uri: &str) -> String {
        let code = random_token("aPrx");
        let entry = Code {
            client_id: client_id.to_owned(),
            user: user.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            expires: Instant::now() + CODE_TTL,
        };
        self.codes.insert(code.clone(), entry);
        code
    }

    /// Takes a code out, so that it works once.
    pub fn take_code(&mut self, code: &str) -> Result<Code, CodeRefused> {
        let code = self.codes.remove(code).ok_or(CodeRefused::Unknown)?;
        if code.expires <= Instant::now() {
            return Err(CodeRefused::Expired);
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn a_reused_rotated_token_revokes_the_whole_grant() {
        let mut grants = Grants {
            rotate: true,
            ..Grants::default()
        };
        let (grant, first) = grants.new_grant("app", "005A");
        let old_session = grants.new_session("005A", Some(grant), TTL);

        let refreshed = grants.refresh(&first, "app").expect("first refresh");
        let second = refreshed.rotated.expect("a rotated token");
        let new_session = grants.new_session("005A", Some(grant), TTL);

        assert_eq!(grants.refresh(&first, "app"), Err(Refused::Reused));
        assert_eq!(grants.refresh(&second, "app"), Err(Refused::Unknown));
        assert_eq!(grants.session_user(&old_session), None);
        assert_eq!(grants.session_user(&new_session), None);
    }

    #[test]
    fn without_rotation_a_refresh_token_keeps_working() {
        let mut grants = Grants::default();
        let (_, token) = grants.new_grant("app", "005A");
        assert_eq!(grants.refresh(&token, "other"), Err(Refused::Unknown));
        for _ in 0..3 {
            let refreshed = grants.refresh(&token, "app").expect("refresh");
            assert_eq!(refreshed.rotated, None);
            assert_eq!(refreshed.user, "005A");
        }
    }

    #[test]
    fn revoking_an_access_token_leaves_its_grant() {
        let mut grants = Grants::default();
        let (grant, token) = grants.new_grant("app", "005A");
        let session = grants.new_session("005A", Some(grant), TTL);
        assert!(grants.revoke(&session));
        assert_eq!(grants.session_user(&session), None);
        assert!(grants.refresh(&token, "app").is_ok());
        assert!(grants.revoke(&token));
        assert_eq!(grants.refresh(&token, "app"), Err(Refused::Unknown));
        assert!(!grants.revoke("nope"));
    }

    #[test]
    fn codes_work_once() {
        let mut grants = Grants::default();
        let code = grants.new_code("app", "005A", "https://app.example/cb");
        assert!(grants.take_code(&code).is_ok());
        assert_eq!(
            grants.take_code(&code).map(|c| c.user),
            Err(CodeRefused::Unknown)
        );
    }
}
