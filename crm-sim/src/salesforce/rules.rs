//! The ownership rules an org runs after the API's own checks: the lead assignment rule and a
//! territory rule. Both change `OwnerId` behind the caller's back, which is what a host that
//! writes on a rep's behalf has to notice.

use serde_json::Value;

use super::store::OrgState;

/// Runs the rules on a record the API just created.
pub(crate) fn after_create(s: &mut OrgState, object: &str, id: &str) {
    let auto_assign = s.caller.as_ref().is_none_or(|c| c.auto_assign);
    if object == "Lead" && auto_assign {
        let owner = s.lead_owner.clone().and_then(|name| s.user_id(&name));
        if let Some(owner) = owner {
            s.set_owner(object, id, &owner);
        }
    }
    territory(s, object, id);
}

/// Runs the rules on a record the API just updated.
pub(crate) fn after_update(s: &mut OrgState, object: &str, id: &str) {
    territory(s, object, id);
}

/// Gives the record to the territory's `reroute_to` when its owner is not a member.
fn territory(s: &mut OrgState, object: &str, id: &str) {
    let Some(rule) = s.territory.clone() else {
        return;
    };
    if !rule.objects.iter().any(|o| o.eq_ignore_ascii_case(object)) {
        return;
    }
    let owner = s
        .get(object, id)
        .and_then(|r| r.get("OwnerId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(owner) = owner else {
        return;
    };
    let member = rule
        .members
        .iter()
        .any(|m| s.user_id(m).as_deref() == Some(owner.as_str()));
    if member {
        return;
    }
    if let Some(target) = s.user_id(&rule.reroute_to) {
        s.set_owner(object, id, &target);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::super::describe::Schema;
    use super::super::profile::{Profile, Territory};
    use super::super::store::Caller;
    use super::super::write;
    use super::*;

    fn org() -> (OrgState, String, String) {
        let profile = Profile::default();
        let schema = Schema::load(&profile.custom_fields, &profile.custom_objects).expect("schema");
        let ttl = std::time::Duration::from_secs(60);
        let mut s = OrgState::new(schema, profile.oauth_clients, ttl);
        s.integration_user = s.insert_user("integration@conduit.example", "I", "U");
        let rep = s.insert_user("rep@example.com", "R", "Ep");
        let queue = s.insert_user("queue@example.com", "Q", "Ueue");
        (s, rep, queue)
    }

    fn owner(s: &OrgState, object: &str, id: &str) -> Option<String> {
        let record = s.get(object, id)?;
        record.get("OwnerId")?.as_str().map(str::to_owned)
    }

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_record_owned_outside_the_territory_is_rerouted() {
        let (mut s, rep, queue) = org();
        s.territory = Some(Territory {
            objects: vec!["account".to_owned()],
            members: vec!["REP@example.com".to_owned()],
            reroute_to: queue.clone(),
        });
        let lost = write::create(&mut s, "Account", &fields(json!({"Name": "A"})));
        let lost = lost.expect("created");
        assert_eq!(owner(&s, "Account", &lost), Some(queue.clone()));

        let kept = fields(json!({"Name": "B", "OwnerId": rep}));
        let kept = write::create(&mut s, "Account", &kept).expect("created");
        assert_eq!(owner(&s, "Account", &kept), Some(rep.clone()));

        let integration = s.integration_user.clone();
        let moved = fields(json!({"OwnerId": integration}));
        write::update(&mut s, "Account", &kept, &moved).expect("updated");
        assert_eq!(owner(&s, "Account", &kept), Some(queue));
    }

    #[test]
    fn the_lead_rule_runs_unless_the_caller_turns_it_off() {
        let (mut s, rep, queue) = org();
        s.lead_owner = Some("queue@example.com".to_owned());
        let lead = fields(json!({"LastName": "L", "Company": "C", "OwnerId": rep}));
        let assigned = write::create(&mut s, "Lead", &lead).expect("created");
        assert_eq!(owner(&s, "Lead", &assigned), Some(queue));

        s.caller = Some(Caller {
            user: rep.clone(),
            auto_assign: false,
            allow_duplicates: false,
        });
        let kept = write::create(&mut s, "Lead", &lead).expect("created");
        assert_eq!(owner(&s, "Lead", &kept), Some(rep));
    }
}
