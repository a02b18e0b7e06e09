//! Salesforce sim: Composite and Composite Graph.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Salesforce;

fn sub(reference: &str, method: &str, url: &str, body: Option<Value>) -> Value {
    let mut sub = json!({"method": method, "url": url, "referenceId": reference});
    if let Some(body) = body {
        sub["body"] = body;
    }
    sub
}

const V: &str = "/services/data/v60.0";

/// One Composite Graph call carrying `graphs`; answers its status and body.
async fn send_graphs(sf: &Salesforce, graphs: Value) -> anyhow::Result<(u16, Value)> {
    sf.call(
        Method::POST,
        "/composite/graph",
        Some(json!({ "graphs": graphs })),
    )
    .await
}

#[tokio::test]
async fn composite_chains_references_and_answers_each_subrequest() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let before = sf.sim.org.request_count();
    let request = json!({"allOrNone": false, "compositeRequest": [
        sub("acct", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "Acme"}))),
        sub("who", "POST", &format!("{V}/sobjects/Contact"),
            Some(json!({"LastName": "Ng", "AccountId": "@{acct.id}"}))),
        sub("read", "GET", &format!("{V}/sobjects/Contact/@{{who.id}}?fields=AccountId"), None),
        sub("q", "GET", &format!("{V}/query?q=SELECT+Id+FROM+Contact"), None),
        sub("task", "POST", &format!("{V}/sobjects/Task"),
            Some(json!({"Subject": "Call", "WhoId": "@{q.records[0].Id}"}))),
    ]});
    let (status, answer) = sf.call(Method::POST, "/composite", Some(request)).await?;
    assert_eq!(status, 200);
    let results = answer["compositeResponse"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 5);
    let account = results[0]["body"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(results[0]["httpStatusCode"], 201);
    assert_eq!(results[0]["referenceId"], "acct");
    assert_eq!(
        results[0]["httpHeaders"]["Location"],
        json!(format!("{V}/sobjects/Account/{account}"))
    );
    assert_eq!(results[2]["body"]["AccountId"], json!(account));
    assert_eq!(results[4]["httpStatusCode"], 201, "{}", results[4]);
    assert_eq!(
        sf.sim.org.request_count(),
        before + 1,
        "a composite call counts once"
    );
    Ok(())
}

#[tokio::test]
async fn composite_without_all_or_none_halts_only_dependents() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let request = json!({"compositeRequest": [
        sub("bad", "POST", &format!("{V}/sobjects/Opportunity"), Some(json!({"Name": "D"}))),
        sub("needs", "POST", &format!("{V}/sobjects/Task"),
            Some(json!({"Subject": "x", "WhatId": "@{bad.id}"}))),
        sub("free", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "A"}))),
    ]});
    let (_, answer) = sf.call(Method::POST, "/composite", Some(request)).await?;
    let results = &answer["compositeResponse"];
    assert_eq!(results[0]["httpStatusCode"], 400);
    assert_eq!(results[0]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(results[1]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(results[2]["httpStatusCode"], 201);
    assert_eq!(sf.sim.org.records("Account").len(), 1);
    Ok(())
}

#[tokio::test]
async fn composite_all_or_none_rolls_back_every_subrequest() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let request = json!({"allOrNone": true, "compositeRequest": [
        sub("acct", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "Acme"}))),
        sub("bad", "POST", &format!("{V}/sobjects/Contact"),
            Some(json!({"LastName": "Ng", "AccountId": "bogus"}))),
        sub("later", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "B"}))),
    ]});
    let (_, answer) = sf.call(Method::POST, "/composite", Some(request)).await?;
    let results = &answer["compositeResponse"];
    assert_eq!(results[1]["body"][0]["errorCode"], "MALFORMED_ID");
    for i in [0, 2] {
        assert_eq!(results[i]["httpStatusCode"], 400);
        assert_eq!(results[i]["body"][0]["errorCode"], "PROCESSING_HALTED");
    }
    assert!(
        sf.sim.org.records("Account").is_empty(),
        "the account was rolled back"
    );
    Ok(())
}

#[tokio::test]
async fn composite_takes_at_most_25_subrequests() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let many: Vec<Value> = (0..26)
        .map(|i| sub(&format!("a{i}"), "GET", &format!("{V}/sobjects"), None))
        .collect();
    let (status, answer) = sf
        .call(
            Method::POST,
            "/composite",
            Some(json!({"compositeRequest": many})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(answer[0]["errorCode"], "LIMIT_EXCEEDED");
    Ok(())
}

#[tokio::test]
async fn composite_graph_is_all_or_nothing_per_graph() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let request = json!({"graphs": [
        {"graphId": "good", "compositeRequest": [
            sub("a", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "G"}))),
            sub("c", "POST", &format!("{V}/sobjects/Contact"),
                Some(json!({"LastName": "Ng", "AccountId": "@{a.id}"}))),
        ]},
        {"graphId": "bad", "compositeRequest": [
            sub("a", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": "B"}))),
            sub("o", "POST", &format!("{V}/sobjects/Opportunity"),
                Some(json!({"Name": "D", "AccountId": "@{a.id}"}))),
        ]},
    ]});
    let (status, answer) = sf
        .call(Method::POST, "/composite/graph", Some(request))
        .await?;
    assert_eq!(status, 200);
    let graphs = &answer["graphs"];
    assert_eq!(graphs[0]["graphId"], "good");
    assert_eq!(graphs[0]["isSuccessful"], true);
    let good = &graphs[0]["graphResponse"]["compositeResponse"];
    assert_eq!(good[1]["httpStatusCode"], 201);
    assert_eq!(graphs[1]["isSuccessful"], false);
    let bad = &graphs[1]["graphResponse"]["compositeResponse"];
    assert_eq!(bad[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(bad[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    let names: Vec<Value> = sf
        .sim
        .org
        .records("Account")
        .iter()
        .map(|r| r["Name"].clone())
        .collect();
    assert_eq!(names, [json!("G")]);

    let nodes: Vec<Value> = (0..501)
        .map(|i| sub(&format!("n{i}"), "GET", &format!("{V}/sobjects"), None))
        .collect();
    let big = json!({"graphs": [{"graphId": "big", "compositeRequest": nodes}]});
    let (status, answer) = sf.call(Method::POST, "/composite/graph", Some(big)).await?;
    assert_eq!(
        (status, answer[0]["errorCode"].clone()),
        (400, json!("LIMIT_EXCEEDED"))
    );
    Ok(())
}

#[tokio::test]
async fn a_graph_call_has_limits_over_all_its_graphs() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let account = |graph: usize, name: &str| {
        json!({"graphId": format!("g{graph}"), "compositeRequest": [
            sub("a", "POST", &format!("{V}/sobjects/Account"), Some(json!({"Name": name}))),
        ]})
    };
    let limit = |answer: &Value| answer[0]["errorCode"].clone();

    let many: Vec<Value> = (0..76).map(|i| account(i, "X")).collect();
    let (status, answer) = send_graphs(&sf, json!(many)).await?;
    assert_eq!((status, limit(&answer)), (400, json!("LIMIT_EXCEEDED")));

    let wide = |graph: usize| {
        let nodes: Vec<Value> = (0..260)
            .map(|n| sub(&format!("n{n}"), "GET", &format!("{V}/sobjects"), None))
            .collect();
        json!({"graphId": format!("w{graph}"), "compositeRequest": nodes})
    };
    let (status, answer) = send_graphs(&sf, json!([wide(0), wide(1)])).await?;
    assert_eq!((status, limit(&answer)), (400, json!("LIMIT_EXCEEDED")));

    let kinds: Vec<Value> = (0..16)
        .map(|i| {
            json!({"graphId": format!("k{i}"), "compositeRequest": [
                sub("a", "POST", &format!("{V}/sobjects/Object{i}__c"), Some(json!({}))),
            ]})
        })
        .collect();
    let (status, answer) = send_graphs(&sf, json!(kinds)).await?;
    assert_eq!((status, limit(&answer)), (400, json!("LIMIT_EXCEEDED")));

    // Fifteen failed graphs: the sixteenth and later do not run.
    let failing = |graph: usize| {
        json!({"graphId": format!("f{graph}"), "compositeRequest": [
            sub("o", "POST", &format!("{V}/sobjects/Opportunity"), Some(json!({"Name": "D"}))),
        ]})
    };
    let mut graphs: Vec<Value> = (0..15).map(failing).collect();
    graphs.push(account(15, "Runs not"));
    let (status, answer) = send_graphs(&sf, json!(graphs)).await?;
    assert_eq!(status, 200);
    let last = &answer["graphs"][15];
    assert_eq!(last["isSuccessful"], false);
    let node = &last["graphResponse"]["compositeResponse"][0];
    assert_eq!(node["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert!(sf.sim.org.records("Account").is_empty());
    Ok(())
}

#[tokio::test]
async fn a_rolled_back_graph_puts_updated_and_deleted_records_back() -> anyhow::Result<()> {
    let sf = Salesforce::start(None).await?;
    let create = |name: &str, key: &str| {
        sub(
            "a",
            "POST",
            &format!("{V}/sobjects/Account"),
            Some(json!({"Name": name, "Conduit_Key__c": key})),
        )
    };
    let setup = json!({"graphs": [
        {"graphId": "one", "compositeRequest": [create("Kept", "k-kept")]},
        {"graphId": "two", "compositeRequest": [create("Doomed", "k-doomed")]},
    ]});
    let (_, answer) = sf
        .call(Method::POST, "/composite/graph", Some(setup))
        .await?;
    let id = |g: usize| {
        answer["graphs"][g]["graphResponse"]["compositeResponse"][0]["body"]["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let (kept, doomed) = (id(0), id(1));

    // Rename one, delete the other, move a key, then fail: all undone.
    let undone = json!({"graphs": [{"graphId": "undone", "compositeRequest": [
        sub("u", "PATCH", &format!("{V}/sobjects/Account/{kept}"),
            Some(json!({"Name": "Renamed", "Conduit_Key__c": "k-moved"}))),
        sub("d", "DELETE", &format!("{V}/sobjects/Account/{doomed}"), None),
        create("New", "k-new"),
        sub("o", "POST", &format!("{V}/sobjects/Opportunity"), Some(json!({"Name": "D"}))),
    ]}]});
    let (status, answer) = sf
        .call(Method::POST, "/composite/graph", Some(undone))
        .await?;
    assert_eq!(
        (status, answer["graphs"][0]["isSuccessful"].clone()),
        (200, json!(false))
    );

    let mut names: Vec<String> = sf
        .sim
        .org
        .records("Account")
        .iter()
        .filter_map(|a| a["Name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, ["Doomed", "Kept"]);
    for (key, found) in [
        ("k-kept", true),
        ("k-doomed", true),
        ("k-moved", false),
        ("k-new", false),
    ] {
        let (status, _) = sf
            .call(
                Method::GET,
                &format!("/sobjects/Account/Conduit_Key__c/{key}"),
                None,
            )
            .await?;
        assert_eq!(status == 200, found, "{key}: {status}");
    }

    // The Id the undone create had is not given again, as in Salesforce.
    let again = json!({"graphs": [{"graphId": "again", "compositeRequest": [
        create("Again", "k-again")]}]});
    let (_, answer) = sf
        .call(Method::POST, "/composite/graph", Some(again))
        .await?;
    let counter = |id: &str| id.get(5..15).and_then(|n| n.parse::<u64>().ok());
    let again = answer["graphs"][0]["graphResponse"]["compositeResponse"][0]["body"]["id"]
        .as_str()
        .and_then(counter);
    assert_eq!(again, counter(&doomed).map(|n| n + 2), "{answer}");
    Ok(())
}
