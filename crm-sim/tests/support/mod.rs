//! Helpers shared by the simulator tests: starting a sim and calling it as its integration
//! user.

#![allow(dead_code, reason = "each test crate uses its own part of the helpers")]

use conduit_crm_sim::{Sim, hubspot, salesforce};
use serde_json::Value;

/// A running Salesforce sim with an access token for its integration user.
pub struct Salesforce {
    pub sim: Sim<salesforce::Org>,
    pub http: reqwest::Client,
    pub token: String,
    /// `{base}/services/data/v60.0`.
    pub data: String,
}

impl Salesforce {
    /// Starts a sim from `yaml` (the default profile when `None`) and signs in.
    pub async fn start(yaml: Option<&str>) -> anyhow::Result<Self> {
        let profile = match yaml {
            Some(text) => salesforce::Profile::from_yaml_str(text)?,
            None => salesforce::Profile::default(),
        };
        let sim = salesforce::serve(profile, "127.0.0.1:0".parse()?).await?;
        let http = reqwest::Client::new();
        let c = sim.org.oauth_client();
        let answer: Value = http
            .post(format!("{}/services/oauth2/token", sim.base_url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
                ("refresh_token", c.refresh_token.as_str()),
            ])
            .send()
            .await?
            .json()
            .await?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no access token in {answer}"))?
            .to_owned();
        let data = format!("{}/services/data/v60.0", sim.base_url);
        Ok(Self {
            sim,
            http,
            token,
            data,
        })
    }

    /// `method` on `{data}{path}` with a JSON body; answers the status and the JSON body
    /// (`null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.data);
        send(
            self.http.request(method, url).bearer_auth(&self.token),
            body,
        )
        .await
    }

    /// Creates a record and answers its Id, failing on any refusal.
    pub async fn create(&self, object: &str, body: Value) -> anyhow::Result<String> {
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                &format!("/sobjects/{object}"),
                Some(body),
            )
            .await?;
        anyhow::ensure!(status == 201, "create {object} answered {status}: {answer}");
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }
}

/// A running HubSpot sim with a private app token.
pub struct Hubspot {
    pub sim: Sim<hubspot::Org>,
    pub http: reqwest::Client,
    pub token: String,
}

impl Hubspot {
    /// Starts a sim from `yaml` (the default profile when `None`).
    pub async fn start(yaml: Option<&str>) -> anyhow::Result<Self> {
        let profile = match yaml {
            Some(text) => hubspot::Profile::from_yaml_str(text)?,
            None => hubspot::Profile::default(),
        };
        let sim = hubspot::serve(profile, "127.0.0.1:0".parse()?).await?;
        let token = "pat-test".to_owned();
        sim.org.add_private_app_token(&token);
        Ok(Self {
            sim,
            http: reqwest::Client::new(),
            token,
        })
    }

    /// `method` on `{base}{path}` with a JSON body; answers the status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.sim.base_url);
        send(
            self.http.request(method, url).bearer_auth(&self.token),
            body,
        )
        .await
    }

    /// Creates a record and answers its id, failing on any refusal.
    pub async fn create(&self, object_type: &str, body: Value) -> anyhow::Result<String> {
        let path = format!("/crm/v3/objects/{object_type}");
        let (status, answer) = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        anyhow::ensure!(
            status == 201,
            "create {object_type} answered {status}: {answer}"
        );
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }
}

/// Sends `request` with `body` as JSON; answers the status and the JSON body (`null` when
/// empty).
async fn send(
    mut request: reqwest::RequestBuilder,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if text.is_empty() {
        return Ok((status, Value::Null));
    }
    Ok((status, serde_json::from_str(&text)?))
}
