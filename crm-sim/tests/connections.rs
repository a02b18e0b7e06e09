//! Connections over HTTP: the OAuth flows of both simulators, who each token acts as, and the
//! Salesforce ownership rules that move records away from the user who wrote them.

use conduit_crm_sim::{OAuthClient, hubspot, salesforce};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const PRIVATE_KEY: &str = include_str!("../../tests/fixtures/jwt/private.pem");
const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/jwt/public.pem");
const REP: &str = "ada@example.com";
const QUEUE: &str = "queue@example.com";

/// A client that shows redirects instead of following them.
fn http() -> anyhow::Result<reqwest::Client> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(client)
}

/// A Salesforce org with a rep and a queue user.
async fn org() -> anyhow::Result<salesforce::Sim<salesforce::Org>> {
    let sim = salesforce::serve(salesforce::Profile::default(), "127.0.0.1:0".parse()?).await?;
    sim.org.add_user(REP, "Ada", "Lovelace");
    sim.org.add_user(QUEUE, "Sales", "Queue");
    Ok(sim)
}

async fn sf_token(sim: &salesforce::Sim<salesforce::Org>, form: &impl serde::Serialize) -> Value {
    let url = format!("{}/services/oauth2/token", sim.base_url);
    let sent = reqwest::Client::new().post(url).form(form).send().await;
    match sent {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(error) => json!({ "send_error": error.to_string() }),
    }
}

async fn sf_refresh(sim: &salesforce::Sim<salesforce::Org>, token: &str) -> Value {
    sf_token(sim, &refresh_form(&sim.org.oauth_client(), token)).await
}

/// A refresh-token grant form for `client`, the same for both CRMs.
fn refresh_form(client: &OAuthClient, token: &str) -> [(&'static str, String); 4] {
    [
        ("grant_type", "refresh_token".to_owned()),
        ("client_id", client.client_id.clone()),
        ("client_secret", client.client_secret.clone()),
        ("refresh_token", token.to_owned()),
    ]
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The `code` or `error` of a redirect's query, and its `state`.
fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    url::Url::parse(location)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_web_server_flow_acts_as_the_user_who_approved() -> anyhow::Result<()> {
    let sim = org().await?;
    let http = http()?;
    let c = sim.org.oauth_client();
    let rep = sim.org.user_id(REP).unwrap_or_default();
    let callback = "https://app.example/callback";
    let query = |hint: &'static str, client: &str| {
        let pairs = [
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", callback),
            ("state", "s1"),
            ("login_hint", hint),
        ];
        pairs.map(|(k, v)| (k.to_owned(), v.to_owned()))
    };

    let (status, _) = authorize(&sim, &http, &query(REP, "nope")).await?;
    assert_eq!(status, 400);

    let (status, params) =
        authorize(&sim, &http, &query("nobody@example.com", &c.client_id)).await?;
    assert_eq!(status, 302);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("s1"));

    let (status, params) = authorize(&sim, &http, &query("ADA@example.com", &c.client_id)).await?;
    assert_eq!(status, 302);
    assert_eq!(param(&params, "state"), Some("s1"));
    let code = param(&params, "code").unwrap_or_default().to_owned();

    let exchange = |code: &str, redirect: &str| {
        [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("client_id", c.client_id.clone()),
            ("client_secret", c.client_secret.clone()),
            ("redirect_uri", redirect.to_owned()),
        ]
    };
    let refused = sf_token(&sim, &exchange(&code, "https://evil.example/cb")).await;
    assert_eq!(refused["error"], "redirect_uri_mismatch", "{refused}");

    // The refused exchange used the code up: codes work once.
    let used = sf_token(&sim, &exchange(&code, callback)).await;
    assert_eq!(used["error"], "invalid_grant", "{used}");

    let (_, params) = authorize(&sim, &http, &query(REP, &c.client_id)).await?;
    let code = param(&params, "code").unwrap_or_default().to_owned();
    let token = sf_token(&sim, &exchange(&code, callback)).await;
    assert!(token["refresh_token"].is_string(), "{token}");
    assert_eq!(
        token["id"],
        json!(format!("{}/id/00D5g000004SimAEAU/{rep}", sim.base_url))
    );
    for key in [
        "access_token",
        "instance_url",
        "token_type",
        "issued_at",
        "signature",
    ] {
        assert!(token[key].is_string(), "{key} in {token}");
    }

    let refreshed = sf_refresh(&sim, &text(&token["refresh_token"])).await;
    assert!(refreshed.get("refresh_token").is_none(), "{refreshed}");
    let created = create_account(&sim, &text(&refreshed["access_token"]), &[]).await?;
    let record = sim.org.record("Account", &created).unwrap_or_default();
    for field in ["CreatedById", "LastModifiedById", "OwnerId"] {
        assert_eq!(record[field], json!(rep), "{field}");
    }
    let logged = sim.org.requests();
    let last = logged.last().map(|r| r.user.clone());
    assert_eq!(last, Some(Some(rep)));
    assert_eq!(logged.first().map(|r| r.user.clone()), Some(None));
    Ok(())
}

/// Runs the authorize step: its status and the query it redirects with.
async fn authorize(
    sim: &salesforce::Sim<salesforce::Org>,
    http: &reqwest::Client,
    query: &[(String, String)],
) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let url = format!("{}/services/oauth2/authorize", sim.base_url);
    let response = http.get(url).query(query).send().await?;
    Ok((response.status().as_u16(), redirect_params(&response)))
}

/// Creates an Account with the bearer token and extra headers; returns its Id.
async fn create_account(
    sim: &salesforce::Sim<salesforce::Org>,
    bearer: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<String> {
    create(sim, bearer, "Account", json!({"Name": "Acme"}), headers).await
}

async fn create(
    sim: &salesforce::Sim<salesforce::Org>,
    bearer: &str,
    object: &str,
    fields: Value,
    headers: &[(&str, &str)],
) -> anyhow::Result<String> {
    let url = format!("{}/services/data/v60.0/sobjects/{object}", sim.base_url);
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(bearer)
        .json(&fields);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    anyhow::ensure!(
        response.status() == 201,
        "create refused: {}",
        response.text().await?
    );
    Ok(text(&response.json::<Value>().await?["id"]))
}

#[tokio::test]
async fn a_rotated_out_refresh_token_revokes_the_whole_grant() -> anyhow::Result<()> {
    let sim = org().await?;
    let c = sim.org.oauth_client();
    sim.org.set_rotation(true);
    let first = sim.org.grant_for(&c.client_id, REP)?;

    let answer = sf_refresh(&sim, &first).await;
    let second = text(&answer["refresh_token"]);
    assert!(!second.is_empty() && second != first, "{answer}");
    let access = text(&answer["access_token"]);
    assert!(create_account(&sim, &access, &[]).await.is_ok());

    // The loser of two concurrent refreshes presents the retired token.
    let reused = sf_refresh(&sim, &first).await;
    assert_eq!(
        reused,
        json!({"error": "invalid_grant", "error_description": "expired access/refresh token"})
    );
    assert_eq!(sf_refresh(&sim, &second).await["error"], "invalid_grant");
    assert!(create_account(&sim, &access, &[]).await.is_err());

    // Other grants are untouched.
    assert!(sf_refresh(&sim, &c.refresh_token).await["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn revoked_tokens_stop_working() -> anyhow::Result<()> {
    let sim = org().await?;
    let c = sim.org.oauth_client();
    let refresh = sim.org.grant_for(&c.client_id, REP)?;
    let access = text(&sf_refresh(&sim, &refresh).await["access_token"]);
    let revoke = format!("{}/services/oauth2/revoke", sim.base_url);
    let http = reqwest::Client::new();

    let revoked = http
        .post(&revoke)
        .form(&[("token", &refresh)])
        .send()
        .await?;
    assert_eq!(revoked.status(), 200);
    assert_eq!(sf_refresh(&sim, &refresh).await["error"], "invalid_grant");
    let url = format!("{}/services/data/v60.0/sobjects", sim.base_url);
    let refused = http.get(url).bearer_auth(&access).send().await?;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await?[0]["errorCode"],
        "INVALID_SESSION_ID"
    );

    let unknown = http.post(&revoke).form(&[("token", "nope")]).send().await?;
    assert_eq!(unknown.status(), 400);
    assert!(!sim.org.revoke(&refresh));
    Ok(())
}

fn jwt_claims(iss: &str, sub: &str, aud: &str, exp: u64) -> Value {
    json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp})
}

fn assertion(claims: &Value) -> anyhow::Result<String> {
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes())?;
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        claims,
        &key,
    )?)
}

async fn jwt_grant(sim: &salesforce::Sim<salesforce::Org>, assertion: &str) -> Value {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion),
    ];
    sf_token(sim, &form).await
}

#[tokio::test]
async fn jwt_bearer_mints_a_token_for_a_preauthorized_user() -> anyhow::Result<()> {
    let sim = org().await?;
    let client = sim.org.oauth_client().client_id;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |sub: &str, aud: &str, exp: u64| jwt_claims(&client, sub, aud, exp);
    let good = assertion(&claims(REP, "https://login.salesforce.com", now + 180))?;
    let description = |answer: Value| text(&answer["error_description"]);

    assert_eq!(
        description(jwt_grant(&sim, &good).await),
        "invalid assertion"
    );
    assert!(sim.org.register_jwt_key(&client, "not a key").is_err());
    sim.org.register_jwt_key(&client, PUBLIC_KEY)?;
    assert_eq!(
        description(jwt_grant(&sim, &good).await),
        "user hasn't approved this consumer"
    );

    sim.org.preauthorize(&client, REP);
    let answer = jwt_grant(&sim, &good).await;
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let rep = sim.org.user_id(REP).unwrap_or_default();
    assert!(text(&answer["id"]).ends_with(&rep), "{answer}");
    let id = create_account(&sim, &text(&answer["access_token"]), &[]).await?;
    assert_eq!(
        sim.org.record("Account", &id).unwrap_or_default()["OwnerId"],
        json!(rep)
    );

    let other = assertion(&claims(QUEUE, &sim.base_url, now + 60))?;
    let refusals = [
        (
            claims(REP, &sim.base_url, now - 10),
            "expired authorization code",
        ),
        (claims(REP, &sim.base_url, now + 3600), "invalid assertion"),
        (
            claims(REP, "https://evil.example", now + 60),
            "audience is invalid",
        ),
        (
            claims(QUEUE, &sim.base_url, now + 60),
            "user hasn't approved this consumer",
        ),
    ];
    for (claims, expected) in refusals {
        let answer = jwt_grant(&sim, &assertion(&claims)?).await;
        assert_eq!(answer["error"], "invalid_grant", "{claims}");
        assert_eq!(description(answer), expected, "{claims}");
    }

    // A signature made for other claims does not verify.
    let (header, rest) = good.split_once('.').unwrap_or_default();
    let (_, signature) = rest.split_once('.').unwrap_or_default();
    let (_, other_rest) = other.split_once('.').unwrap_or_default();
    let (other_claims, _) = other_rest.split_once('.').unwrap_or_default();
    let forged = format!("{header}.{other_claims}.{signature}");
    for bad in [forged.as_str(), "garbage"] {
        let answer = jwt_grant(&sim, bad).await;
        assert_eq!(description(answer), "invalid assertion", "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn territory_and_lead_rules_take_records_from_their_writer() -> anyhow::Result<()> {
    let sim = org().await?;
    let c = sim.org.oauth_client();
    let (rep, queue) = (sim.org.user_id(REP), sim.org.user_id(QUEUE));
    let (rep, queue) = (rep.unwrap_or_default(), queue.unwrap_or_default());
    let integration = text(&sf_refresh(&sim, &c.refresh_token).await["access_token"]);
    let as_rep = sf_refresh(&sim, &sim.org.grant_for(&c.client_id, REP)?).await;
    let as_rep = text(&as_rep["access_token"]);
    sim.org.set_territory(Some(salesforce::Territory {
        objects: vec!["Account".to_owned()],
        members: vec![REP.to_owned()],
        reroute_to: QUEUE.to_owned(),
    }));

    let lost = create_account(&sim, &integration, &[]).await?;
    let owner = |id: &str| sim.org.record_owner(id);
    assert_eq!(owner(&lost), queue);
    let kept = create_account(&sim, &as_rep, &[]).await?;
    assert_eq!(owner(&kept), rep);

    // Through Collections too.
    let url = format!("{}/services/data/v60.0/composite/sobjects", sim.base_url);
    let body = json!({"records": [{"attributes": {"type": "Account"}, "Name": "B"}]});
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(url)
        .bearer_auth(&integration)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(owner(&text(&answer[0]["id"])), queue);

    sim.org.set_territory(None);
    sim.org.set_lead_assignment(Some(QUEUE));
    let lead = || json!({"LastName": "L", "Company": "C"});
    let assigned = create(&sim, &as_rep, "Lead", lead(), &[]).await?;
    assert_eq!(sim.org.owner_of("Lead", &assigned), queue);
    let off = [("Sforce-Auto-Assign", "false")];
    let unassigned = create(&sim, &as_rep, "Lead", lead(), &off).await?;
    assert_eq!(sim.org.owner_of("Lead", &unassigned), rep);
    Ok(())
}

/// Reading owners back in the tests above.
trait Owners {
    fn owner_of(&self, object: &str, id: &str) -> String;
    fn record_owner(&self, id: &str) -> String {
        self.owner_of("Account", id)
    }
}

impl Owners for salesforce::Org {
    fn owner_of(&self, object: &str, id: &str) -> String {
        let record = self.record(object, id).unwrap_or_default();
        text(record.get("OwnerId").unwrap_or(&Value::Null))
    }
}

/// The HubSpot token endpoint's answer to a refresh with the integration's client.
async fn hs_refresh(sim: &hubspot::Sim<hubspot::Org>, token: &str) -> anyhow::Result<Value> {
    let form = refresh_form(&sim.org.oauth_client(), token);
    let url = format!("{}/oauth/v1/token", sim.base_url);
    let response = reqwest::Client::new().post(url).form(&form).send().await?;
    Ok(response.json().await?)
}

#[tokio::test]
async fn hubspot_tokens_act_as_their_user() -> anyhow::Result<()> {
    let sim = hubspot::serve(hubspot::Profile::default(), "127.0.0.1:0".parse()?).await?;
    sim.org.add_owner(REP, "Ada", "Lovelace");
    let c = sim.org.oauth_client();
    let http = http()?;
    let callback = "https://app.example/hs";

    let authorize = format!("{}/oauth/authorize", sim.base_url);
    let query = [
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", callback),
        ("scope", "crm.objects.contacts.write"),
        ("state", "s2"),
        ("login_hint", REP),
    ];
    let approved = http.get(&authorize).query(&query).send().await?;
    assert_eq!(approved.status(), 302);
    let params = redirect_params(&approved);
    assert_eq!(param(&params, "state"), Some("s2"));
    let code = param(&params, "code").unwrap_or_default().to_owned();

    let token_url = format!("{}/oauth/v1/token", sim.base_url);
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("redirect_uri", callback),
        ("code", code.as_str()),
    ];
    let token: Value = http
        .post(&token_url)
        .form(&form)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(token["expires_in"], 1800, "{token}");
    assert_eq!(token["token_type"], "bearer");
    let again = http.post(&token_url).form(&form).send().await?;
    assert_eq!(again.status(), 400);
    let access = text(&token["access_token"]);
    let owners = format!("{}/crm/v3/owners?email={REP}", sim.base_url);
    let owners: Value = http
        .get(owners)
        .bearer_auth(&access)
        .send()
        .await?
        .json()
        .await?;
    let owner = &owners["results"][0];

    let contacts = format!("{}/crm/v3/objects/contacts", sim.base_url);
    let body = json!({"properties": {"email": "x@example.com"}});
    let created: Value = http
        .post(&contacts)
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let user = owner["userId"].to_string();
    assert_eq!(created["properties"]["hs_created_by_user_id"], json!(user));
    assert_ne!(owner["userId"], owner["id"]);
    assert_eq!(
        sim.org.requests().last().and_then(|r| r.user.clone()),
        Some(user)
    );

    sim.org.add_private_app_token("pat-na1-test");
    let id = text(&created["id"]);
    let patch = json!({"properties": {"firstname": "Ada"}});
    let updated: Value = http
        .patch(format!("{contacts}/{id}"))
        .bearer_auth("pat-na1-test")
        .json(&patch)
        .send()
        .await?
        .json()
        .await?;
    let integration = sim.org.integration_user_id();
    assert_eq!(
        updated["properties"]["hs_updated_by_user_id"],
        json!(integration)
    );

    let refresh = text(&token["refresh_token"]);
    assert!(sim.org.revoke_refresh_token(&refresh));
    let refused = hs_refresh(&sim, &refresh).await?;
    assert_eq!(refused["category"], "BAD_REFRESH_TOKEN");

    let granted = sim.org.grant_for(&c.client_id, REP)?;
    let answer = hs_refresh(&sim, &granted).await?;
    assert_eq!(answer["refresh_token"], json!(granted));

    sim.org.expire_tokens();
    let expired = http
        .get(format!("{contacts}/{id}"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(expired.status(), 401);
    let still = http
        .get(format!("{contacts}/{id}"))
        .bearer_auth("pat-na1-test")
        .send()
        .await?;
    assert_eq!(still.status(), 200);
    Ok(())
}

#[tokio::test]
async fn a_profile_sets_up_jwt_rotation_and_rules() -> anyhow::Result<()> {
    let yaml = format!(
        "rotate_refresh_tokens: true\n\
         oauth_clients:\n  - {{client_id: app, client_secret: s, refresh_token: r0}}\n\
         jwt_keys:\n  - client_id: app\n    public_key: {key:?}\n\
         preauthorized:\n  - {{client_id: app, username: {REP}}}\n\
         users:\n  - {{email: {REP}, first_name: Ada, last_name: L}}\n\
         \x20 - {{email: {QUEUE}, first_name: Q, last_name: U}}\n\
         territory: {{objects: [Account], members: [{REP}], reroute_to: {QUEUE}}}\n\
         lead_assignment_owner: {QUEUE}\n",
        key = PUBLIC_KEY,
    );
    let profile = salesforce::Profile::from_yaml_str(&yaml)?;
    let sim = salesforce::serve(profile, "127.0.0.1:0".parse()?).await?;

    let rotated = sf_refresh(&sim, "r0").await;
    assert!(rotated["refresh_token"].is_string(), "{rotated}");

    let now = jsonwebtoken::get_current_timestamp();
    let signed = assertion(&jwt_claims("app", REP, &sim.base_url, now + 60))?;
    let answer = jwt_grant(&sim, &signed).await;
    let id = create_account(&sim, &text(&answer["access_token"]), &[]).await?;
    assert_eq!(
        sim.org.owner_of("Account", &id),
        sim.org.user_id(REP).unwrap_or_default()
    );
    Ok(())
}

#[tokio::test]
async fn the_admin_surface_sets_connections_and_rules() -> anyhow::Result<()> {
    let sim = org().await?;
    let c = sim.org.oauth_client();
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}/__sim/{path}", sim.base_url);
    let calls = [
        ("rotation", json!({"enabled": true})),
        (
            "jwt-keys",
            json!({"clientId": c.client_id, "publicKey": PUBLIC_KEY}),
        ),
        (
            "preauthorized",
            json!({"clientId": c.client_id, "username": REP}),
        ),
        (
            "territory",
            json!({"objects": ["Account"], "members": [REP], "reroute_to": QUEUE}),
        ),
        ("lead-assignment", json!({"owner": QUEUE})),
    ];
    for (path, body) in calls {
        let method = if path.contains("jwt") || path.contains("pre") {
            reqwest::Method::POST
        } else {
            reqwest::Method::PUT
        };
        let answer = http.request(method, admin(path)).json(&body).send().await?;
        assert_eq!(answer.status(), 204, "{path}: {}", answer.text().await?);
    }
    let bad = http.put(admin("rotation")).body("{").send().await?;
    assert_eq!(bad.status(), 400);
    let bad_key = json!({"clientId": c.client_id, "publicKey": "nope"});
    let bad = http.post(admin("jwt-keys")).json(&bad_key).send().await?;
    assert_eq!(bad.status(), 400);

    let rotated = sf_refresh(&sim, &c.refresh_token).await;
    assert!(rotated["refresh_token"].is_string(), "{rotated}");
    let integration = text(&rotated["access_token"]);
    let id = create_account(&sim, &integration, &[]).await?;
    assert_eq!(
        sim.org.owner_of("Account", &id),
        sim.org.user_id(QUEUE).unwrap_or_default()
    );

    let now = jsonwebtoken::get_current_timestamp();
    let signed = assertion(&jwt_claims(&c.client_id, REP, &sim.base_url, now + 60))?;
    assert!(jwt_grant(&sim, &signed).await["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn bad_token_requests_are_refused_not_panicked_on() -> anyhow::Result<()> {
    let sim = org().await?;
    let http = reqwest::Client::new();
    let token = format!("{}/services/oauth2/token", sim.base_url);
    let bodies = [
        "grant_type=authorization_code",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c",
        "grant_type=refresh_token&refresh_token=%FF%FE",
        "grant_type=nope",
        "%%%",
    ];
    for body in bodies {
        let answer = http
            .post(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        assert_eq!(answer.status(), 400, "{body}");
        assert!(answer.json::<Value>().await?["error"].is_string(), "{body}");
    }
    let authorize = format!("{}/services/oauth2/authorize", sim.base_url);
    let c = sim.org.oauth_client();
    let no_redirect = [("client_id", c.client_id.as_str()), ("redirect_uri", "::")];
    let page = http.get(authorize).query(&no_redirect).send().await?;
    assert_eq!(page.status(), 400);
    Ok(())
}
