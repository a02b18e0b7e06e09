//! Composite (`/composite`, up to 25 subrequests) and Composite Graph (`/composite/graph`,
//! graphs of up to 500 nodes), run through the org's own REST routes.
//!
//! Subrequests run in order as the caller, and a later one may use an earlier one's answer
//! through `@{referenceId.path}` (`@{newAccount.id}`, `@{found.records[0].Id}`) in its `url`
//! or `body`. With `allOrNone` (always, inside a graph) the first failure rolls every write
//! of the request (or graph) back, and every other subrequest answers `PROCESSING_HALTED`.
//! Without it, the others run on, and one that needs a failed subrequest's answer answers
//! `PROCESSING_HALTED`. The whole call counts as one API request, as in Salesforce.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

use super::errors::{ApiError, SfError, parse_json};
use super::{API_VERSION, Org};

/// The most subrequests one composite request takes.
const MAX_SUBREQUESTS: usize = 25;

/// The most nodes (subrequests) one graph takes, and one graph call over all its graphs.
const MAX_GRAPH_NODES: usize = 500;

/// The most graphs one graph call takes.
const MAX_GRAPHS: usize = 75;

/// The most kinds of node (method and object) one graph call takes.
const MAX_NODE_KINDS: usize = 15;

/// Graphs that may fail in one call; the graphs after the one over it do not run.
const MAX_GRAPH_FAILURES: usize = 14;

/// What the subrequests of a rolled-back transaction answer.
const ROLLED_BACK: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";

/// One subrequest as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subrequest {
    method: String,
    url: String,
    reference_id: String,
    #[serde(default)]
    body: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompositeRequest {
    #[serde(default)]
    all_or_none: bool,
    composite_request: Vec<Subrequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Graph {
    graph_id: String,
    composite_request: Vec<Subrequest>,
}

#[derive(Debug, Deserialize)]
struct GraphRequest {
    graphs: Vec<Graph>,
}

/// One subrequest's answer.
#[derive(Debug, Clone)]
struct Outcome {
    reference_id: String,
    status: u16,
    headers: Map<String, Value>,
    body: Value,
}

impl Outcome {
    fn failed(&self) -> bool {
        self.status >= 400
    }

    /// A subrequest that did not run, or whose work was undone.
    fn halted(reference_id: &str, message: &str) -> Self {
        Self {
            reference_id: reference_id.to_owned(),
            status: 400,
            headers: Map::new(),
            body: json!([{"errorCode": "PROCESSING_HALTED", "message": message}]),
        }
    }

    fn json(&self) -> Value {
        json!({
            "body": self.body,
            "httpHeaders": self.headers,
            "httpStatusCode": self.status,
            "referenceId": self.reference_id,
        })
    }
}

/// Lets a composite call run alone: other data calls share the gate, a composite call holds
/// it exclusively, so a rollback never undoes another caller's write.
pub(crate) async fn gate(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    let data = format!("/services/data/{API_VERSION}/composite");
    let path = request.uri().path().trim_end_matches('/');
    if path == data || path == format!("{data}/graph") {
        return next.run(request).await;
    }
    let _shared = org.gate.read().await;
    next.run(request).await
}

fn too_many(message: String) -> ApiError {
    ApiError::bad_request(SfError::bare("LIMIT_EXCEEDED", message))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = parse_json(body)?;
    serde_json::from_value(value).map_err(|e| ApiError::json_parser(e.to_string()))
}

/// `POST /composite` `{allOrNone, compositeRequest}` → `{compositeResponse}`.
pub(crate) async fn composite(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: CompositeRequest = parse(&body)?;
    let count = request.composite_request.len();
    if count > MAX_SUBREQUESTS {
        return Err(too_many(format!(
            "A composite request takes at most {MAX_SUBREQUESTS} subrequests; this one has \
             {count}"
        )));
    }
    let _alone = org.gate.write().await;
    let routes = super::data_routes(org.clone());
    let outcomes = run(
        &org,
        &routes,
        &headers,
        request.composite_request,
        request.all_or_none,
    )
    .await;
    let responses: Vec<Value> = outcomes.iter().map(Outcome::json).collect();
    Ok(Json(json!({ "compositeResponse": responses })))
}

/// `POST /composite/graph` `{graphs: [{graphId, compositeRequest}]}`: each graph all or
/// nothing → `{graphs: [{graphId, graphResponse: {compositeResponse}, isSuccessful}]}`.
pub(crate) async fn graph(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: GraphRequest = parse(&body)?;
    if let Some(big) = request
        .graphs
        .iter()
        .find(|g| g.composite_request.len() > MAX_GRAPH_NODES)
    {
        return Err(too_many(format!(
            "Graph {} has {} nodes; a graph takes at most {MAX_GRAPH_NODES}",
            big.graph_id,
            big.composite_request.len()
        )));
    }
    check_graph_limits(&request)?;
    let _alone = org.gate.write().await;
    let routes = super::data_routes(org.clone());
    let mut graphs = Vec::new();
    let mut failures = 0;
    for graph in request.graphs {
        let outcomes = if failures > MAX_GRAPH_FAILURES {
            let halted = "Processing halted: too many graphs of this request failed.";
            let nodes = graph.composite_request.iter();
            nodes
                .map(|n| Outcome::halted(&n.reference_id, halted))
                .collect()
        } else {
            run(&org, &routes, &headers, graph.composite_request, true).await
        };
        let ok = !outcomes.iter().any(Outcome::failed);
        failures += usize::from(!ok);
        let responses: Vec<Value> = outcomes.iter().map(Outcome::json).collect();
        graphs.push(json!({
            "graphId": graph.graph_id,
            "graphResponse": {"compositeResponse": responses},
            "isSuccessful": ok,
        }));
    }
    Ok(Json(json!({ "graphs": graphs })))
}

/// Refuses a graph call over Salesforce's limits per call: graphs, nodes over all graphs,
/// and kinds of node (method and object).
fn check_graph_limits(request: &GraphRequest) -> Result<(), ApiError> {
    let count = request.graphs.len();
    if count > MAX_GRAPHS {
        return Err(too_many(format!(
            "A graph request takes at most {MAX_GRAPHS} graphs; this one has {count}"
        )));
    }
    let nodes = request.graphs.iter().flat_map(|g| &g.composite_request);
    let count = nodes.clone().count();
    if count > MAX_GRAPH_NODES {
        return Err(too_many(format!(
            "A graph request takes at most {MAX_GRAPH_NODES} nodes; this one has {count}"
        )));
    }
    let kinds: std::collections::BTreeSet<(&str, &str)> = nodes
        .map(|n| {
            let object = n.url.split("/sobjects/").nth(1).unwrap_or(&n.url);
            (
                n.method.as_str(),
                object.split('/').next().unwrap_or(object),
            )
        })
        .collect();
    if kinds.len() > MAX_NODE_KINDS {
        return Err(too_many(format!(
            "A graph request takes at most {MAX_NODE_KINDS} different nodes; this one has {}",
            kinds.len()
        )));
    }
    Ok(())
}

/// Runs `requests` in order through `routes`; with `all_or_none`, the first failure rolls
/// back everything they wrote.
async fn run(
    org: &Org,
    routes: &Router,
    headers: &HeaderMap,
    requests: Vec<Subrequest>,
    all_or_none: bool,
) -> Vec<Outcome> {
    let snapshot = all_or_none.then(|| org.with_state(|s| s.snapshot()));
    let mut answers: HashMap<String, Value> = HashMap::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut failed_at = None;
    for (i, sub) in requests.iter().enumerate() {
        let outcome = match resolve(sub, &answers) {
            Ok((url, body)) => dispatch(routes, headers, sub, &url, body).await,
            Err(missing) => Outcome::halted(&sub.reference_id, &missing),
        };
        if !outcome.failed() {
            answers.insert(sub.reference_id.clone(), outcome.body.clone());
        }
        let failed = outcome.failed();
        outcomes.push(outcome);
        if failed && all_or_none {
            failed_at = Some(i);
            break;
        }
    }
    let Some(snapshot) = snapshot else {
        return outcomes;
    };
    let Some(failed_at) = failed_at else {
        org.with_state(|s| s.commit(snapshot));
        return outcomes;
    };
    tracing::debug!(failed_at, "composite transaction rolled back");
    org.with_state(|s| s.restore(snapshot));
    requests
        .iter()
        .enumerate()
        .map(|(i, sub)| match outcomes.get(i) {
            Some(outcome) if i == failed_at => outcome.clone(),
            _ => Outcome::halted(&sub.reference_id, ROLLED_BACK),
        })
        .collect()
}

/// Sends one subrequest through the org's routes as the composite call's caller.
async fn dispatch(
    routes: &Router,
    headers: &HeaderMap,
    sub: &Subrequest,
    url: &str,
    body: Option<Value>,
) -> Outcome {
    let invalid = |message: String| Outcome {
        reference_id: sub.reference_id.clone(),
        status: 400,
        headers: Map::new(),
        body: json!([{"errorCode": "INVALID_INPUT", "message": message}]),
    };
    let Ok(method) = Method::from_bytes(sub.method.as_bytes()) else {
        return invalid(format!("Invalid HTTP method: {}", sub.method));
    };
    let mut request = Request::builder().method(method).uri(url);
    for name in [header::AUTHORIZATION.as_str(), "sforce-auto-assign"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes));
    let request = match request {
        Ok(request) => request,
        Err(error) => return invalid(format!("Invalid subrequest url {url}: {error}")),
    };
    let response = match routes.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut headers = Map::new();
    if status == 201
        && let Some(id) = body.get("id").and_then(Value::as_str)
    {
        let location = format!("{}/{id}", url.split('?').next().unwrap_or(url));
        headers.insert("Location".into(), json!(location));
    }
    Outcome {
        reference_id: sub.reference_id.clone(),
        status,
        headers,
        body,
    }
}

/// The subrequest's url (on the served API version) and body with every reference replaced,
/// or the message for a reference with no value.
fn resolve(
    sub: &Subrequest,
    answers: &HashMap<String, Value>,
) -> Result<(String, Option<Value>), String> {
    let url = pin_version(&substitute(&sub.url, answers)?);
    let body = sub
        .body
        .as_ref()
        .map(|b| substitute_json(b, answers))
        .transpose()?;
    Ok((url, body))
}

/// The url with its `/services/data/vXX.X/` version replaced by the one the org serves.
fn pin_version(url: &str) -> String {
    let prefix = "/services/data/v";
    let Some(rest) = url.strip_prefix(prefix) else {
        return url.to_owned();
    };
    match rest.find('/') {
        Some(slash) => format!("/services/data/{API_VERSION}{}", &rest[slash..]),
        None => url.to_owned(),
    }
}

/// `text` with each `@{ref.path}` replaced by the answer's value as text.
fn substitute(text: &str, answers: &HashMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        let Some(end) = rest[start..].find('}').map(|e| start + e) else {
            break;
        };
        out.push_str(&rest[..start]);
        match lookup(&rest[start + 2..end], answers)? {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` with references replaced in every string; a string that is one reference takes
/// the referenced value itself, number or boolean included.
fn substitute_json(value: &Value, answers: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            let whole = s.strip_prefix("@{").and_then(|r| r.strip_suffix('}'));
            match whole.filter(|r| !r.contains('}')) {
                Some(reference) => lookup(reference, answers)?,
                None => Value::String(substitute(s, answers)?),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_json(v, answers))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                out.insert(key.clone(), substitute_json(v, answers)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The value `reference` (`refId.path`, path segments with optional `[n]`) names.
fn lookup(reference: &str, answers: &HashMap<String, Value>) -> Result<Value, String> {
    let (id, path) = reference.split_once('.').unwrap_or((reference, ""));
    let missing = || {
        format!(
            "Invalid reference specified. No value for {reference} found in {id}. Provided \
             referenceId ({id}) might not exist or its subrequest failed."
        )
    };
    let mut value = answers.get(id).ok_or_else(missing)?;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = match segment.find('[') {
            Some(open) => (&segment[..open], &segment[open..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            value = value.get(name).ok_or_else(missing)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.trim_end_matches(']').parse().map_err(|_| missing())?;
            value = value.get(n).ok_or_else(missing)?;
        }
    }
    Ok(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_to_values_and_text() {
        let mut answers = HashMap::new();
        answers.insert("acct".to_owned(), json!({"id": "001A", "n": 3}));
        answers.insert("q".to_owned(), json!({"records": [{"Id": "003B"}]}));
        let body =
            json!({"AccountId": "@{acct.id}", "N": "@{acct.n}", "Note": "x @{q.records[0].Id}"});
        assert_eq!(
            substitute_json(&body, &answers),
            Ok(json!({"AccountId": "001A", "N": 3, "Note": "x 003B"}))
        );
        assert!(substitute("/x/@{nope.id}", &answers).is_err());
        assert_eq!(
            pin_version("/services/data/v58.0/sobjects/Account"),
            "/services/data/v60.0/sobjects/Account"
        );
    }
}
