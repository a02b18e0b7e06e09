//! The OpenAPI document the host serves describes every route: each
//! documented operation is answered by a route of its own, every route the
//! README names is documented, and every path parameter is declared.

use anyhow::Context;
use serde_json::Value;

use conduit_tests::{Harness, examples_dir, workspace_root};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// A value for each path parameter that names something that exists.
fn sample(parameter: &str) -> &'static str {
    match parameter {
        "customer" => "northwind",
        "name" => "globex-deal-stages",
        "version" => "0.1.0",
        _ => "x",
    }
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(parameter) => sample(parameter).to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `path` (a template or a concrete path) is an instance of
/// `template`.
fn matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<_>, Vec<_>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

/// Every `` `METHOD /path` `` the README mentions.
fn readme_routes() -> anyhow::Result<Vec<(String, String)>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))?;
    let mut routes = Vec::new();
    for quoted in readme.split('`').skip(1).step_by(2) {
        let Some((method, path)) = quoted.split_once(' ') else {
            continue;
        };
        let path = path.split('?').next().unwrap_or_default();
        if METHODS.contains(&method.to_ascii_lowercase().as_str()) && path.starts_with('/') {
            routes.push((method.to_ascii_lowercase(), path.to_owned()));
        }
    }
    Ok(routes)
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() -> anyhow::Result<()> {
    let harness = Harness::start(&examples_dir()).await?;
    let document: Value = harness
        .request(reqwest::Method::GET, "/openapi.json")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = document["paths"].as_object().context("no paths")?;

    // 1. Each documented operation reaches a route: the router's own
    //    answers for an unknown path or method never come back.
    let mut operations = 0;
    for (path, item) in paths {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            operations += 1;
            let operation = &item[*method];
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
            for parameter in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let declared = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == parameter && p["in"] == "path");
                assert!(declared, "{method} {path} does not declare `{parameter}`");
            }

            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let response = harness
                .request(method.clone(), &concrete(path))
                .send()
                .await?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or_default();
            assert!(
                code != "not_found" && code != "method_not_allowed",
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
    assert!(operations >= 13, "only {operations} operations documented");

    // 2. Every route the README tells users about is in the document.
    let named = readme_routes()?;
    assert!(named.len() >= 8, "the README names only {named:?}");
    for (method, path) in named {
        let documented = paths
            .iter()
            .any(|(template, item)| matches(template, &path) && item.get(&method).is_some());
        assert!(
            documented,
            "the README names `{method} {path}`, the document does not"
        );
    }
    Ok(())
}
