//! Composite Graph: records that depend on each other (an account and the
//! contacts that name it) written in one call, a later node naming an
//! earlier one's id as `@{reference.id}`.
//!
//! A graph is all or nothing: when one node fails, Salesforce undoes the
//! others and answers them `PROCESSING_HALTED`. Those come back as
//! [`NodeAnswer::Halted`], for the caller to send again without the node
//! that failed. So that one bad record undoes as little as possible, a
//! graph should hold one parent and what depends on it, not unrelated
//! records; [`pack`] then puts as many graphs in a call as Salesforce takes.

use std::collections::BTreeSet;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing::debug;

use super::super::wire::{object, salesforce_value};
use super::{API_VERSION, SalesforceClient};
use crate::crm::CrmError;
use crate::record::Fields;

/// The most graphs one call carries.
pub const MAX_GRAPHS: usize = 75;
/// The most nodes one call carries, over all its graphs.
pub const MAX_NODES: usize = 500;
/// The most kinds of node (method and object) one call carries.
pub const MAX_NODE_KINDS: usize = 15;
/// The deepest a graph may be: a chain of this many nodes.
pub const MAX_DEPTH: usize = 15;

/// The error code of a node Salesforce undid or never ran.
const HALTED: &str = "PROCESSING_HALTED";

/// What a node writes.
#[derive(Debug, Clone)]
pub enum NodeWrite {
    /// Creates a record.
    Create,
    /// Creates a record holding `key` in the external id `field`, or updates
    /// the record that holds it already.
    Upsert {
        /// The external id field.
        field: String,
        /// Conduit's key for the record.
        key: String,
    },
    /// Updates the record with this id.
    Update {
        /// The record's id.
        id: String,
    },
}

/// One record of a graph.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// The node's name, by which later nodes refer to its id.
    pub reference: String,
    /// The sObject.
    pub object: String,
    /// What it writes.
    pub write: NodeWrite,
    /// Fields to set; a value `@{reference.id}` is an earlier node's id.
    pub fields: Fields,
}

impl GraphNode {
    fn method(&self) -> Method {
        match self.write {
            NodeWrite::Create => Method::POST,
            NodeWrite::Upsert { .. } | NodeWrite::Update { .. } => Method::PATCH,
        }
    }

    fn url(&self) -> String {
        let base = format!("/services/data/{API_VERSION}/sobjects/{}", self.object);
        let segment = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
        match &self.write {
            NodeWrite::Create => base,
            NodeWrite::Upsert { field, key } => format!("{base}/{field}/{}", segment(key)),
            NodeWrite::Update { id } => format!("{base}/{}", segment(id)),
        }
    }

    /// Whether sending the node twice writes once.
    fn names_its_record(&self) -> bool {
        !matches!(self.write, NodeWrite::Create)
    }
}

/// Records written together or not at all, parents before what names them.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Its name in the call.
    pub id: String,
    /// Its nodes, each after the nodes it names.
    pub nodes: Vec<GraphNode>,
}

impl Graph {
    /// Whether sending the graph twice writes each of its records once:
    /// every node names its record, by id or by external id.
    fn resendable(&self) -> bool {
        self.nodes.iter().all(GraphNode::names_its_record)
    }

    fn kinds(&self) -> BTreeSet<(String, String)> {
        self.nodes
            .iter()
            .map(|n| (n.method().to_string(), n.object.clone()))
            .collect()
    }
}

/// What Salesforce answered for one node.
#[derive(Debug, Clone)]
pub enum NodeAnswer {
    /// The record was written; its id.
    Written(String),
    /// The node failed, for this reason.
    Refused(CrmError),
    /// The node was undone, or never ran, because another failed.
    Halted,
}

/// Whether `graph` fits in one call: Salesforce takes no graph larger
/// than a call.
pub fn fits(graph: &Graph) -> bool {
    graph.nodes.len() <= MAX_NODES && graph.kinds().len() <= MAX_NODE_KINDS
}

/// Splits `graphs` into calls, each within Salesforce's limits on graphs,
/// nodes and kinds of node per call. Answers the indices of the graphs of
/// each call; a graph that fits no call ([`fits`]) gets one of its own, for
/// Salesforce to refuse.
///
/// Graphs that can be sent twice go in calls of their own: after a lost
/// answer, a call is sent again only if all its graphs can be, so one graph
/// that creates without a key would keep the others from being sent again.
pub fn pack(graphs: &[Graph]) -> Vec<Vec<usize>> {
    let (resendable, once): (Vec<usize>, Vec<usize>) =
        (0..graphs.len()).partition(|&i| graphs[i].resendable());
    let mut calls = pack_in_order(graphs, &resendable);
    calls.extend(pack_in_order(graphs, &once));
    calls
}

/// Splits the graphs at `indices` into calls, in that order.
fn pack_in_order(graphs: &[Graph], indices: &[usize]) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut nodes = 0;
    let mut kinds: BTreeSet<(String, String)> = BTreeSet::new();
    for &i in indices {
        let graph = &graphs[i];
        let graph_kinds = graph.kinds();
        let room = calls.last().is_some_and(|call| {
            call.len() < MAX_GRAPHS
                && nodes + graph.nodes.len() <= MAX_NODES
                && kinds.union(&graph_kinds).count() <= MAX_NODE_KINDS
        });
        if !room {
            calls.push(Vec::new());
            nodes = 0;
            kinds.clear();
        }
        if let Some(call) = calls.last_mut() {
            call.push(i);
        }
        nodes += graph.nodes.len();
        kinds.extend(graph_kinds);
    }
    calls
}

impl SalesforceClient {
    /// `POST /composite/graph` for each call [`pack`] makes of `graphs`:
    /// one answer per node of each graph, in order.
    ///
    /// A call refused as a whole (400) answers its nodes
    /// [`NodeAnswer::Halted`], to be sent another way; a call whose every
    /// node names its record is sent again after a lost answer.
    pub async fn send_graphs(&self, graphs: &[Graph]) -> Vec<Vec<NodeAnswer>> {
        let mut answers: Vec<Vec<NodeAnswer>> = graphs.iter().map(|_| Vec::new()).collect();
        for call in pack(graphs) {
            let sent: Vec<&Graph> = call.iter().map(|&i| &graphs[i]).collect();
            for (&i, answer) in call.iter().zip(self.graph_call(&sent).await) {
                answers[i] = answer;
            }
        }
        answers
    }

    async fn graph_call(&self, graphs: &[&Graph]) -> Vec<Vec<NodeAnswer>> {
        let path = format!("/services/data/{API_VERSION}/composite/graph");
        let body = json!({ "graphs": graphs.iter().map(|g| graph_json(g)).collect::<Vec<_>>() });
        let resendable = graphs.iter().all(|g| g.resendable());
        let response = if resendable {
            self.transport
                .send_resendable(Method::POST, &path, &body)
                .await
        } else {
            self.transport
                .send(Method::POST, &path, &[], Some(&body))
                .await
        };
        let every = |answer: NodeAnswer| -> Vec<Vec<NodeAnswer>> {
            graphs
                .iter()
                .map(|g| vec![answer.clone(); g.nodes.len()])
                .collect()
        };

        let response = match response {
            Ok(response) => response,
            Err(error) => return every(NodeAnswer::Refused(error)),
        };
        if response.status == StatusCode::BAD_REQUEST {
            debug!(
                graphs = graphs.len(),
                "composite graph refused as a whole; its records go another way"
            );
            return every(NodeAnswer::Halted);
        }
        if !response.status.is_success() {
            let error = CrmError::from_salesforce(response.status.as_u16(), &response.body);
            return every(NodeAnswer::Refused(error));
        }
        graphs
            .iter()
            .map(|graph| graph_answers(graph, &response.body))
            .collect()
    }
}

fn graph_json(graph: &Graph) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = graph
        .nodes
        .iter()
        .map(|node| {
            json!({
                "method": node.method().as_str(),
                "url": node.url(),
                "referenceId": node.reference,
                "body": object(&node.fields, salesforce_value),
            })
        })
        .collect();
    json!({ "graphId": graph.id, "compositeRequest": nodes })
}

/// The answers to `graph`'s nodes in the call's answer `body`.
fn graph_answers(graph: &Graph, body: &serde_json::Value) -> Vec<NodeAnswer> {
    let answered = body
        .get("graphs")
        .and_then(|g| g.as_array())
        .into_iter()
        .flatten()
        .find(|g| g.get("graphId").and_then(|v| v.as_str()) == Some(graph.id.as_str()));
    let Some(answered) = answered else {
        let error = CrmError::protocol(format!(
            "composite graph answered nothing for graph {}",
            graph.id
        ));
        return vec![NodeAnswer::Refused(error); graph.nodes.len()];
    };
    let nodes = answered
        .pointer("/graphResponse/compositeResponse")
        .and_then(|n| n.as_array());
    let mut answers: Vec<NodeAnswer> = graph
        .nodes
        .iter()
        .map(|node| {
            let answer = nodes.into_iter().flatten().find(|a| {
                a.get("referenceId").and_then(|v| v.as_str()) == Some(node.reference.as_str())
            });
            match answer {
                Some(answer) => node_answer(node, answer),
                // A graph halted before it ran may list no nodes.
                None => NodeAnswer::Halted,
            }
        })
        .collect();

    // A graph is all or nothing. Salesforce saying it succeeded means every
    // node was written, even one whose answer cannot be read: that node
    // fails as an answer not understood, and no node is sent again, which
    // would write its record twice.
    let successful = answered.get("isSuccessful").and_then(|v| v.as_bool());
    if successful == Some(true) {
        for answer in &mut answers {
            if matches!(answer, NodeAnswer::Halted) {
                *answer = NodeAnswer::Refused(CrmError::protocol(format!(
                    "composite graph {} succeeded without an answer for this record",
                    graph.id
                )));
            }
        }
        return answers;
    }
    // Where any node did not succeed, none did, whatever a node's own
    // answer says.
    let whole = successful.is_none() && answers.iter().all(|a| matches!(a, NodeAnswer::Written(_)));
    if !whole {
        for answer in &mut answers {
            if matches!(answer, NodeAnswer::Written(_)) {
                *answer = NodeAnswer::Halted;
            }
        }
    }
    answers
}

fn node_answer(node: &GraphNode, answer: &serde_json::Value) -> NodeAnswer {
    let status = answer
        .get("httpStatusCode")
        .and_then(|s| s.as_u64())
        .unwrap_or(0) as u16;
    let body = answer.get("body").cloned().unwrap_or_default();
    if (200..300).contains(&status) {
        let id = match &node.write {
            NodeWrite::Update { id } => Some(id.clone()),
            _ => body.get("id").and_then(|v| v.as_str()).map(str::to_owned),
        };
        return match id {
            Some(id) => NodeAnswer::Written(id),
            None => NodeAnswer::Refused(CrmError::protocol(
                "a graph node's record came back without an id".into(),
            )),
        };
    }
    let error = CrmError::from_salesforce(status, &body);
    if error.code == HALTED {
        NodeAnswer::Halted
    } else {
        NodeAnswer::Refused(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(id: usize, nodes: usize, object: &str) -> Graph {
        let nodes = (0..nodes)
            .map(|n| GraphNode {
                reference: format!("g{id}n{n}"),
                object: object.into(),
                write: NodeWrite::Create,
                fields: Fields::new(),
            })
            .collect();
        Graph {
            id: format!("g{id}"),
            nodes,
        }
    }

    #[test]
    fn calls_stop_at_seventy_five_graphs_and_five_hundred_nodes() {
        let pairs: Vec<Graph> = (0..200).map(|i| graph(i, 2, "Contact")).collect();
        let sizes: Vec<usize> = pack(&pairs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [75, 75, 50]);

        let wide: Vec<Graph> = (0..4).map(|i| graph(i, 200, "Contact")).collect();
        assert_eq!(pack(&wide), [vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn graphs_that_can_be_sent_twice_share_no_call_with_ones_that_cannot() {
        let keyed = |id: usize| {
            let mut g = graph(id, 2, "Contact");
            for (n, node) in g.nodes.iter_mut().enumerate() {
                node.write = NodeWrite::Upsert {
                    field: "Conduit_Key__c".into(),
                    key: format!("k{id}-{n}"),
                };
            }
            g
        };
        let graphs = vec![
            graph(0, 2, "Contact"),
            keyed(1),
            graph(2, 2, "Contact"),
            keyed(3),
        ];
        assert!(graphs[1].resendable() && !graphs[0].resendable());
        assert_eq!(pack(&graphs), [vec![1, 3], vec![0, 2]]);
    }

    #[test]
    fn calls_stop_at_fifteen_kinds_of_node() {
        let graphs: Vec<Graph> = (0..20)
            .map(|i| graph(i, 1, &format!("Object{i}__c")))
            .collect();
        let sizes: Vec<usize> = pack(&graphs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [15, 5]);
        assert!(fits(&graph(0, 500, "Contact")));
        assert!(!fits(&graph(0, 501, "Contact")));
    }

    #[test]
    fn urls_carry_keys_and_ids_encoded() {
        let node = GraphNode {
            reference: "r1".into(),
            object: "Account".into(),
            write: NodeWrite::Upsert {
                field: "Conduit_Key__c".into(),
                key: "call/7 #2".into(),
            },
            fields: Fields::new(),
        };
        assert_eq!(
            node.url(),
            "/services/data/v60.0/sobjects/Account/Conduit_Key__c/call%2F7%20%232"
        );
        assert_eq!(node.method(), Method::PATCH);
        assert!(node.names_its_record());
    }

    #[test]
    fn a_rolled_back_node_is_halted_and_the_failed_one_refused() {
        let g = Graph {
            id: "g0".into(),
            nodes: vec![
                GraphNode {
                    reference: "r0".into(),
                    object: "Account".into(),
                    write: NodeWrite::Create,
                    fields: Fields::new(),
                },
                GraphNode {
                    reference: "r1".into(),
                    object: "Contact".into(),
                    write: NodeWrite::Update { id: "003X".into() },
                    fields: Fields::new(),
                },
            ],
        };
        let body = json!({"graphs": [{"graphId": "g0", "isSuccessful": false,
        "graphResponse": {"compositeResponse": [
            {"referenceId": "r0", "httpStatusCode": 400,
             "body": [{"errorCode": "PROCESSING_HALTED", "message": "rolled back"}]},
            {"referenceId": "r1", "httpStatusCode": 400,
             "body": [{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                       "message": "Phone needed", "fields": ["Phone"]}]}
        ]}}]});
        let answers = graph_answers(&g, &body);
        assert!(matches!(answers[0], NodeAnswer::Halted));

        // A node answered as written in a graph that did not succeed was
        // undone with the rest.
        let mut odd = body.clone();
        odd["graphs"][0]["graphResponse"]["compositeResponse"][0] =
            json!({"referenceId": "r0", "httpStatusCode": 201, "body": {"id": "001X"}});
        assert!(matches!(graph_answers(&g, &odd)[0], NodeAnswer::Halted));
        match &answers[1] {
            NodeAnswer::Refused(e) => assert_eq!(e.code, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_graph_that_succeeded_sends_no_node_again() {
        let g = graph(0, 2, "Contact");
        let body = json!({"graphs": [{"graphId": "g0", "isSuccessful": true,
        "graphResponse": {"compositeResponse": [
            {"referenceId": "g0n0", "httpStatusCode": 201, "body": {"id": "003A"}}
        ]}}]});
        let answers = graph_answers(&g, &body);
        assert!(matches!(&answers[0], NodeAnswer::Written(id) if id == "003A"));
        match &answers[1] {
            NodeAnswer::Refused(e) => assert_eq!(e.code, "unexpected_answer"),
            other => panic!("{other:?}"),
        }
    }
}
