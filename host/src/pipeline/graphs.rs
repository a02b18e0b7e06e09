//! Which records of a Salesforce batch go as Composite Graphs, and what
//! their answers mean for each record.
//!
//! A graph holds one connected group: records the batch creates and the
//! records that name them, so that a bad record undoes only its own group.
//! Salesforce takes 75 graphs a call, where sObject Collections take 200
//! records a call per object and kind of write: graphs spend fewer calls
//! for a few groups (one call, where levels spend one per level and
//! object), levels for many (200 new accounts with a contact each are two
//! Collections calls, and three of graphs). The groups go as graphs only
//! when that spends fewer calls than sending them in levels beside the
//! rest of the batch.

use std::collections::{BTreeMap, HashMap, HashSet};

use tracing::debug;

use super::execute::Work;
use super::pending;
use super::sending::{answer_lost, found_on_retry, outcome_unknown, upsert_key, writer_or_fail};
use super::{CustomerRuntime, RecordError, Status};
use crate::config::CustomerConfig;
use crate::crm::graph::{self, Graph, GraphNode, NodeAnswer, NodeWrite};
use crate::crm::{COLLECTION_SIZE, Crm};
use crate::export::Plan;
use crate::record::Value;
use crate::schema::OrgSchema;

/// Records written together or not at all, parents first, by one writer.
pub(super) struct Component {
    writer: Option<String>,
    work: Vec<Work>,
    /// Its graph: a node per record, in `work`'s order.
    graph: Graph,
}

/// What the graphs' answers settled, and what is to be sent again.
pub(super) struct Sent {
    /// Records written or refused.
    pub settled: Vec<Work>,
    /// Records of graphs undone by another record's failure or never run,
    /// and records whose writer's client is not Salesforce's: to be sent in
    /// levels.
    pub halted: Vec<Work>,
}

/// Takes out of `work` the groups worth sending as graphs: none unless the
/// customer's CRM is Salesforce and graphs spend fewer calls.
pub(super) fn choose(
    config: &CustomerConfig,
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut Vec<Work>,
    depth: &HashMap<usize, usize>,
) -> Vec<Component> {
    if !matches!(*runtime.crm, Crm::Salesforce(_)) {
        return Vec::new();
    }
    let groups = groups(work);
    let mut eligible: Vec<(Vec<usize>, Graph)> = Vec::new();
    for members in groups.into_values() {
        let all: Vec<&Work> = members.iter().map(|&i| &work[i]).collect();
        if graphable(config, schema, &all, depth) {
            let graph = build(config, &all);
            if graph::fits(&graph) {
                eligible.push((members, graph));
            }
        }
    }
    if eligible.is_empty() {
        return Vec::new();
    }

    if !graphs_pay(config, work, &eligible, depth) {
        return Vec::new();
    }
    take(work, eligible)
}

/// Whether sending the `eligible` groups as graphs spends fewer calls than
/// sending them in levels beside the rest of `work`.
fn graphs_pay(
    config: &CustomerConfig,
    work: &[Work],
    eligible: &[(Vec<usize>, Graph)],
    depth: &HashMap<usize, usize>,
) -> bool {
    let in_graph: HashSet<usize> = eligible.iter().flat_map(|(m, _)| m).copied().collect();
    let rest: Vec<&Work> = (0..work.len())
        .filter(|i| !in_graph.contains(i))
        .map(|i| &work[i])
        .collect();
    let with: Vec<&Work> = rest
        .iter()
        .copied()
        .chain(in_graph.iter().map(|&i| &work[i]))
        .collect();
    let by_levels =
        level_calls(config, &with, depth).saturating_sub(level_calls(config, &rest, depth));
    let by_graphs = calls_by_writer(eligible, work);
    debug!(
        groups = eligible.len(),
        by_graphs, by_levels, "records naming records the batch creates"
    );
    by_graphs < by_levels
}

/// Takes the records of `groups` (positions) out of `work`, keeping each
/// group's order and the rest's.
fn take(work: &mut Vec<Work>, groups: Vec<(Vec<usize>, Graph)>) -> Vec<Component> {
    let mut slots: Vec<Option<Work>> = std::mem::take(work).into_iter().map(Some).collect();
    let components = groups
        .into_iter()
        .map(|(members, graph)| {
            let taken: Vec<Work> = members.iter().filter_map(|&i| slots[i].take()).collect();
            Component {
                writer: taken.first().and_then(|w| w.writer.clone()),
                work: taken,
                graph,
            }
        })
        .collect();
    work.extend(slots.into_iter().flatten());
    components
}

/// The positions in `work` of each group of records joined by references
/// to records the batch creates, each group in `work`'s order.
fn groups(work: &[Work]) -> BTreeMap<usize, Vec<usize>> {
    let position: HashMap<usize, usize> = work
        .iter()
        .enumerate()
        .map(|(at, w)| (w.prepared.index, at))
        .collect();
    let mut parent: Vec<usize> = (0..work.len()).collect();
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while parent[at] != at {
            parent[at] = parent[parent[at]];
            at = parent[at];
        }
        at
    }
    for (at, w) in work.iter().enumerate().filter(|(_, w)| w.ok()) {
        for reference in &w.pending {
            if let Some(&to) = position.get(&reference.parent) {
                let (a, b) = (root(&mut parent, at), root(&mut parent, to));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for at in 0..work.len() {
        let top = root(&mut parent, at);
        groups.entry(top).or_default().push(at);
    }
    groups.retain(|_, members| members.len() > 1);
    groups
}

/// Whether a group can go as one graph: one writer, every record planned
/// and written in one request (no field moved back, which takes requests of
/// its own), within a graph's size and depth, and no value that Salesforce
/// would read as a reference to another node. Whether its graph fits a call
/// is asked of the graph ([`graph::fits`]).
fn graphable(
    config: &CustomerConfig,
    schema: &OrgSchema,
    group: &[&Work],
    depth: &HashMap<usize, usize>,
) -> bool {
    let Some(first) = group.first() else {
        return false;
    };
    let deepest = group
        .iter()
        .filter_map(|w| depth.get(&w.prepared.index))
        .max()
        .copied()
        .unwrap_or(0);
    if group.len() > graph::MAX_NODES || deepest >= graph::MAX_DEPTH {
        return false;
    }
    group.iter().all(|w| {
        let Some(plan) = &w.plan else { return false };
        w.ok()
            && w.writer == first.writer
            && schema.objects.contains_key(&w.prepared.write.object)
            && plan.regressions().is_empty()
            && !plan.is_noop()
            && (plan.creating || w.crm_id.is_some())
            && no_stray_reference(w, plan)
            && key_fits_a_url(config, w)
    })
}

/// Whether `w` sends no value holding `@{`, but the placeholders of its
/// own references: Salesforce would read any other as a reference and
/// fail the graph.
fn no_stray_reference(w: &Work, plan: &Plan) -> bool {
    plan.payload().iter().all(|(field, value)| {
        let placed = w.pending.iter().any(|p| {
            p.via.as_deref() == Some(field.as_str())
                && *value == Value::Text(pending::placeholder(p.parent))
        });
        placed || !value.to_string().contains("@{")
    })
}

/// Records one Collections call can carry together: level, object, writer,
/// the `crm_key` a create upserts on, and whether it creates.
type CallGroup<'a> = (usize, &'a str, Option<&'a str>, Option<&'a str>, bool);

/// Whether the key a keyed create upserts on can go in a node's URL:
/// Salesforce reads a `/` in an external id there as a path separator,
/// encoded or not, where a Collections upsert carries the key in its body.
fn key_fits_a_url(config: &CustomerConfig, w: &Work) -> bool {
    let keyed = config
        .entities
        .get(&w.prepared.intent.entity)
        .is_some_and(|e| e.crm_key.is_some());
    let key = w.prepared.intent.idempotency_key.as_deref().unwrap_or("");
    !keyed || !key.contains('/')
}

/// The calls sending `group` in levels takes: one per level, object, kind
/// of write and writer, and 200 records.
fn level_calls(config: &CustomerConfig, group: &[&Work], depth: &HashMap<usize, usize>) -> usize {
    let mut counts: BTreeMap<CallGroup<'_>, usize> = BTreeMap::new();
    for w in group.iter().filter(|w| w.ok()) {
        let Some(plan) = &w.plan else { continue };
        if !plan.creating && plan.is_noop() {
            continue;
        }
        let crm_key = config
            .entities
            .get(&w.prepared.intent.entity)
            .and_then(|e| e.crm_key.as_deref());
        let group = (
            depth.get(&w.prepared.index).copied().unwrap_or(0),
            w.prepared.write.object.as_str(),
            w.writer.as_deref(),
            crm_key.filter(|_| plan.creating),
            plan.creating,
        );
        *counts.entry(group).or_default() += 1;
    }
    counts.values().map(|n| n.div_ceil(COLLECTION_SIZE)).sum()
}

/// The graph calls `graphs` take, a call carrying one writer's graphs.
fn calls_by_writer(groups: &[(Vec<usize>, Graph)], work: &[Work]) -> usize {
    let mut by_writer: BTreeMap<Option<String>, Vec<Graph>> = BTreeMap::new();
    for (members, graph) in groups {
        let writer = members.first().and_then(|&i| work[i].writer.clone());
        by_writer.entry(writer).or_default().push(graph.clone());
    }
    by_writer.values().map(|g| graph::pack(g).len()).sum()
}

/// The graph of `group`: a node per record, in the group's order (parents
/// first), each named by its record's index.
fn build(config: &CustomerConfig, group: &[&Work]) -> Graph {
    let nodes = group
        .iter()
        .map(|w| {
            let plan = w.plan.as_ref();
            let creating = plan.is_some_and(|p| p.creating);
            let crm_key = config
                .entities
                .get(&w.prepared.intent.entity)
                .and_then(|e| e.crm_key.clone());
            let write = match (creating, crm_key, &w.crm_id) {
                (true, Some(field), _) => NodeWrite::Upsert {
                    field,
                    key: upsert_key(w),
                },
                (true, None, _) => NodeWrite::Create,
                (false, _, id) => NodeWrite::Update {
                    id: id.clone().unwrap_or_default(),
                },
            };
            GraphNode {
                reference: pending::reference(w.prepared.index),
                object: w.prepared.write.object.clone(),
                write,
                fields: plan.map(Plan::payload).unwrap_or_default(),
            }
        })
        .collect();
    let id = group
        .first()
        .map(|w| format!("g{}", w.prepared.index))
        .unwrap_or_default();
    Graph { id, nodes }
}

/// Sends `components` as graphs, a call per writer and as many graphs as
/// a call takes, and applies each node's answer to its record.
pub(super) async fn send(runtime: &CustomerRuntime, components: Vec<Component>) -> Sent {
    let mut by_writer: BTreeMap<Option<String>, Vec<Component>> = BTreeMap::new();
    for component in components {
        by_writer
            .entry(component.writer.clone())
            .or_default()
            .push(component);
    }

    let mut sent = Sent {
        settled: Vec::new(),
        halted: Vec::new(),
    };
    for (writer, components) in by_writer {
        let mut work: Vec<Work> = Vec::new();
        let mut spans = Vec::new();
        let mut graphs: Vec<Graph> = Vec::new();
        for component in components {
            spans.push(work.len()..work.len() + component.work.len());
            work.extend(component.work);
            graphs.push(component.graph);
        }
        let all: Vec<usize> = (0..work.len()).collect();
        let crm = writer_or_fail(runtime, writer.as_ref(), &mut work, &all).await;
        let client = match crm.as_deref() {
            Some(Crm::Salesforce(client)) => client,
            Some(Crm::Hubspot(_)) => {
                sent.halted.extend(work);
                continue;
            }
            None => {
                sent.settled.extend(work);
                continue;
            }
        };

        let answers = client.send_graphs(&graphs).await;
        let mut halted = vec![false; work.len()];
        for ((span, graph), answers) in spans.iter().zip(&graphs).zip(answers) {
            for ((at, node), answer) in span.clone().zip(&graph.nodes).zip(answers) {
                halted[at] = apply(&mut work[at], node, answer);
            }
        }
        for (w, halted) in work.into_iter().zip(halted) {
            if halted {
                sent.halted.push(w);
            } else {
                sent.settled.push(w);
            }
        }
    }
    sent
}

/// Applies a node's answer to its record; answers whether the node was
/// undone, to be sent again.
fn apply(w: &mut Work, node: &GraphNode, answer: NodeAnswer) -> bool {
    let creating = w.plan.as_ref().is_some_and(|p| p.creating);
    match answer {
        NodeAnswer::Written(id) => {
            w.crm_id = Some(id);
            w.status = if creating {
                Status::Created
            } else {
                Status::Updated
            };
            false
        }
        // A create whose answer was lost or not understood, that a retry
        // would not find, is not sent again: it could be made twice.
        NodeAnswer::Refused(e)
            if (answer_lost(&e) || e.code == "unexpected_answer")
                && creates(node).is_some_and(|keyed| !found_on_retry(w, keyed)) =>
        {
            w.fail(outcome_unknown(&node.object, e));
            false
        }
        NodeAnswer::Refused(e) => {
            w.fail(RecordError::crm(e));
            false
        }
        NodeAnswer::Halted => true,
    }
}

/// Whether `node` creates its record, and if so whether on a key.
fn creates(node: &GraphNode) -> Option<bool> {
    match node.write {
        NodeWrite::Create => Some(false),
        NodeWrite::Upsert { .. } => Some(true),
        NodeWrite::Update { .. } => None,
    }
}
