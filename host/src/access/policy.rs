//! Which roles may call which `/v1` route, by method and route template.
//!
//! One table, so a reviewer sees every grant at once. A route not listed
//! here (one added without a line below) is open to the narrowest sensible
//! set: under `/customers/{customer}`, reads to every role and changes to
//! agents and admins, both within the key's customers; anywhere else,
//! admins only.

use axum::http::Method;

use super::Role;

use Role::{Admin, Agent, Cs, Engineer};

const EVERYONE: &[Role] = &[Agent, Cs, Engineer, Admin];
const AGENTS: &[Role] = &[Agent, Admin];
const OPERATORS: &[Role] = &[Cs, Admin];
const STAFF: &[Role] = &[Cs, Engineer, Admin];
const AUTHORS: &[Role] = &[Engineer, Admin];
const ADMINS: &[Role] = &[Admin];

/// The roles that may call `method` on `template` (a route as registered
/// under `/v1`, e.g. `/customers/{customer}/writes`).
pub fn allowed(method: &Method, template: &str) -> &'static [Role] {
    let m = method.as_str();
    match (m, template) {
        ("POST", "/customers/{customer}/writes" | "/customers/{customer}/jobs") => AGENTS,
        (
            "GET",
            "/customers/{customer}/writes/{idempotency_key}"
            | "/customers/{customer}/jobs/{job}"
            | "/customers/{customer}/jobs/{job}/results",
        ) => EVERYONE,
        ("GET", "/customers/{customer}/schema") => EVERYONE,
        ("POST", "/customers/{customer}/schema/refresh") => STAFF,
        ("GET", "/customers/{customer}/schema/drift") => STAFF,
        ("GET", "/customers/{customer}/audit" | "/customers/{customer}/dashboard") => EVERYONE,
        ("PUT", "/customers/{customer}/connection") => OPERATORS,
        ("GET", "/customers/{customer}/connections") => OPERATORS,
        // A rep connects through the agent that acts for them.
        ("POST", "/customers/{customer}/reps/{rep}/authorize") => &[Agent, Cs, Admin],
        ("DELETE", "/customers/{customer}/reps/{rep}/connection") => &[Agent, Cs, Admin],
        ("GET", "/customers/{customer}/plugin") => STAFF,
        ("PUT", "/customers/{customer}/plugin") => OPERATORS,
        (
            "POST",
            "/customers/{customer}/plugin/rollback" | "/customers/{customer}/plugin/resume",
        ) => OPERATORS,
        ("PUT", "/plugins/{name}/{version}") => AUTHORS,
        ("GET", "/plugins" | "/plugins/{name}") => STAFF,
        ("POST", "/plugins/{name}/{version}/approve") => STAFF,
        ("GET", "/audit") => STAFF,
        // Reads, the feed and deliveries are the customer's data: every role
        // within its customers may look, and run reads now.
        (
            "GET",
            "/customers/{customer}/changes"
            | "/customers/{customer}/reads"
            | "/customers/{customer}/webhooks/deliveries",
        ) => EVERYONE,
        ("POST", "/customers/{customer}/reads/run") => EVERYONE,
        (
            "POST",
            "/customers/{customer}/webhooks/deliveries/{id}/replay"
            | "/customers/{customer}/webhooks/replay",
        ) => &[Agent, Cs, Admin],
        ("GET", "/customers/{customer}/schedule") => AUTHORS,
        (_, "/keys" | "/keys/{id}") => ADMINS,
        (_, customer) if customer.starts_with("/customers/{customer}") => {
            if *method == Method::GET {
                EVERYONE
            } else {
                AGENTS
            }
        }
        _ => ADMINS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_write_but_never_manage() {
        let writes = allowed(&Method::POST, "/customers/{customer}/writes");
        assert!(writes.contains(&Agent));
        for (method, route) in [
            (Method::PUT, "/plugins/{name}/{version}"),
            (Method::PUT, "/customers/{customer}/plugin"),
            (Method::POST, "/plugins/{name}/{version}/approve"),
            (Method::POST, "/keys"),
            (Method::PUT, "/customers/{customer}/connection"),
        ] {
            assert!(
                !allowed(&method, route).contains(&Agent),
                "{method} {route}"
            );
        }
    }

    #[test]
    fn an_unlisted_route_is_narrow() {
        let read = allowed(&Method::GET, "/customers/{customer}/something");
        assert!(read.contains(&Agent));
        let change = allowed(&Method::POST, "/customers/{customer}/something");
        assert_eq!(change, AGENTS);
        assert_eq!(allowed(&Method::POST, "/elsewhere"), ADMINS);
    }

    #[test]
    fn every_role_runs_reads_and_engineers_do_not_replay() {
        let run = allowed(&Method::POST, "/customers/{customer}/reads/run");
        for role in [Agent, Cs, Engineer, Admin] {
            assert!(run.contains(&role), "{role}");
        }
        let replay = allowed(&Method::POST, "/customers/{customer}/webhooks/replay");
        assert!(replay.contains(&Agent) && replay.contains(&Cs));
        assert!(!replay.contains(&Engineer));
    }

    #[test]
    fn engineers_upload_and_cs_activates() {
        assert!(allowed(&Method::PUT, "/plugins/{name}/{version}").contains(&Engineer));
        assert!(!allowed(&Method::PUT, "/plugins/{name}/{version}").contains(&Cs));
        assert!(allowed(&Method::PUT, "/customers/{customer}/plugin").contains(&Cs));
        assert!(!allowed(&Method::PUT, "/customers/{customer}/plugin").contains(&Engineer));
    }
}
