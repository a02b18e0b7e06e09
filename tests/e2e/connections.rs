//! Connections against the simulators: tokens sealed in the store and
//! shared, one refresh at a time across every holder of a connection, and a
//! refused refresh marking the connection for authorisation again.

use std::sync::Arc;

use anyhow::Context;

use conduit_crm_sim::salesforce;
use conduit_host::auth::{Connection, Credentials, Identity};
use conduit_host::config::Provider;
use conduit_host::secrets::SecretKey;
use conduit_host::store::{Grant, GrantState, Store, StoredAccess};
use conduit_tests::TestState;

/// Token requests the simulator has answered.
fn token_requests(sim: &conduit_crm_sim::Sim<salesforce::Org>) -> usize {
    sim.org
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/services/oauth2/token"))
        .count()
}

async fn org_grant(
    store: &Store,
    sim: &conduit_crm_sim::Sim<salesforce::Org>,
    refresh_token: &str,
) -> anyhow::Result<()> {
    let oauth = sim.org.oauth_client();
    let credentials = Credentials {
        base_url: sim.base_url.clone(),
        client_id: oauth.client_id,
        client_secret: oauth.client_secret,
        refresh_token: refresh_token.to_owned(),
        jwt_key: None,
    };
    store
        .put_grant(&Grant::org("acme", "salesforce", credentials))
        .await
}

/// A store of its own, on a database kept while it is used.
async fn fresh_store() -> anyhow::Result<(TestState, Store)> {
    let state = TestState::new().await?;
    let store = state.open_store(SecretKey::ephemeral()).await?;
    Ok((state, store))
}

/// The org-wide connection of `acme` on `store`.
fn org_connection(store: &Store) -> Connection {
    let http = reqwest::Client::new();
    Connection::stored(
        "acme",
        Identity::Org,
        Provider::Salesforce,
        store.clone(),
        http,
    )
}

#[tokio::test]
async fn twenty_holders_of_an_expired_connection_refresh_it_once() -> anyhow::Result<()> {
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let state = TestState::new().await?;
    let store = state.open_store(SecretKey::ephemeral()).await?;
    org_grant(&store, &sim, &sim.org.oauth_client().refresh_token).await?;
    let http = reqwest::Client::new();

    // Twenty separate connection objects, as twenty replicas would hold.
    let holders: Vec<Arc<Connection>> = (0..20)
        .map(|_| {
            let store = store.clone();
            let identity = Identity::Org;
            Arc::new(Connection::stored(
                "acme",
                identity,
                Provider::Salesforce,
                store,
                http.clone(),
            ))
        })
        .collect();
    // The org rotates refresh tokens: presenting a used one kills the grant.
    sim.org.set_rotation(true);
    let first = holders[0].token().await?;
    assert_eq!(token_requests(&sim), 1);

    // The session expires; every holder is refused at once.
    sim.org.expire_sessions();
    let tasks: Vec<_> = holders
        .iter()
        .map(|holder| {
            let holder = holder.clone();
            let rejected = first.clone();
            tokio::spawn(async move { holder.refresh_after_rejection(&rejected).await })
        })
        .collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await??.value);
    }

    assert_eq!(token_requests(&sim), 2, "one refresh for all twenty");
    values.dedup();
    assert_eq!(values.len(), 1, "every holder uses the one new token");
    assert_ne!(values[0], first.value);

    // The token is stored sealed: the database never holds it.
    let bytes = state.stored_bytes().await?;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(&values[0]),
        "the access token is sealed at rest"
    );
    let refresh = sim.org.oauth_client().refresh_token;
    assert!(
        !text.contains(&refresh),
        "the refresh token is sealed at rest"
    );

    // Each rotated refresh token was stored before its access token was
    // used: refreshing again works, twice over.
    for _ in 0..2 {
        sim.org.expire_sessions();
        let current = holders[0].token().await?;
        let next = holders[0].refresh_after_rejection(&current).await?;
        assert_ne!(next.value, current.value);
    }
    assert_eq!(token_requests(&sim), 4);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_refresh_marks_the_connection_and_says_whose_it_is() -> anyhow::Result<()> {
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let (_dir, store) = fresh_store().await?;
    org_grant(&store, &sim, "a-refresh-token-the-org-revoked").await?;
    let connection = org_connection(&store);

    let refused = connection
        .token()
        .await
        .expect_err("the CRM refuses the grant");
    assert_eq!(refused.code, "needs_reauth");
    assert!(
        refused.message.contains("the org-wide connection"),
        "{}",
        refused.message
    );
    let grants = store.grants("acme").await?;
    assert_eq!(grants[0].state, GrantState::NeedsReauth);
    assert!(grants[0].reason.is_some());

    // Marked, it is not tried again until someone authorises it.
    let before = token_requests(&sim);
    let again = connection.token().await.expect_err("still refused");
    assert_eq!(again.code, "needs_reauth");
    assert_eq!(token_requests(&sim), before);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_unavailable_token_endpoint_is_retryable_and_marks_nothing() -> anyhow::Result<()> {
    // A token endpoint that is down: 503 to every request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let down = axum::Router::new().route(
        "/services/oauth2/token",
        axum::routing::post(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
    );
    tokio::spawn(async move { axum::serve(listener, down).await });

    let (_dir, store) = fresh_store().await?;
    let credentials = Credentials {
        base_url,
        client_id: "app".into(),
        client_secret: "secret".into(),
        refresh_token: "still-valid".into(),
        jwt_key: None,
    };
    store
        .put_grant(&Grant::org("acme", "salesforce", credentials))
        .await?;
    let connection = org_connection(&store);

    let error = connection
        .token()
        .await
        .expect_err("no token while it is down");
    assert_eq!(error.code, "token_endpoint_unavailable");
    assert!(error.retryable);
    assert_eq!(store.grants("acme").await?[0].state, GrantState::Active);
    Ok(())
}

#[tokio::test]
async fn a_connection_removed_or_replaced_elsewhere_is_not_used_from_a_cache() -> anyhow::Result<()>
{
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    let (_dir, store) = fresh_store().await?;
    org_grant(&store, &sim, &sim.org.oauth_client().refresh_token).await?;
    let here = org_connection(&store);
    let first = here.token().await?;

    // Another replica refreshes: this one's cached token is of the old
    // generation, so it takes the stored one.
    let generation = store.grant_state("acme", "").await?.context("stored")?.1;
    let grant = store.grant("acme", "").await?.context("stored")?;
    let newer = StoredAccess {
        value: "a-newer-token".into(),
        api_base: sim.base_url.clone(),
        expires_at: None,
    };
    let stored = store
        .store_refresh("acme", "", &grant.secrets, &newer, generation)
        .await?;
    assert!(stored.is_some());
    assert_eq!(here.token().await?.value, "a-newer-token");
    assert_ne!(first.value, "a-newer-token");

    // A refresh of an older generation neither stores nor marks anything.
    let stale = store
        .store_refresh("acme", "", &grant.secrets, &newer, generation)
        .await?;
    assert_eq!(stale, None);
    assert!(
        !store
            .mark_needs_reauth("acme", "", "late refusal", generation)
            .await?
    );
    assert_eq!(store.grants("acme").await?[0].state, GrantState::Active);

    // Removed elsewhere: the cache does not outlive it.
    assert!(store.delete_grant("acme", "").await?);
    let error = here.token().await.expect_err("the connection is gone");
    assert_eq!(error.code, "not_connected");
    sim.shutdown().await;
    Ok(())
}
