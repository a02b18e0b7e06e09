//! Echo suppression: a read that only brings back what the agent already
//! knows — its own write, or a change the feed already gave it — is no
//! change.
//!
//! The rule. Per record, the store keeps a *shadow*: for each mapped CRM
//! field, the value the agent last knew it to hold and when that was
//! recorded. The host's writes set the fields they wrote (after the CRM
//! answered); every change the feed gives out sets all the record's mapped
//! fields. A read record is a change when any mapped field differs from its
//! shadow, a field without a shadow row counting as empty; a record with
//! no shadow at all is new to the agent and always a change.
//!
//! This is correct when a rep edits a field the host also wrote: the host's
//! write sets the shadow to the host's value, so the rep's value differs
//! and comes through; and once the feed has given it out, the shadow holds
//! the rep's value, so a later move back to the host's old value differs
//! too (comparing with "what the host wrote" alone would swallow it).
//!
//! One race is handled: a page fetched before a host write whose shadow is
//! recorded after the fetch holds older values than the shadow. Such fields
//! (shadow newer than the fetch) are left out of the comparison and their
//! shadow is kept; the write moved the record's modification time, so the
//! next read sees the record again and compares it in full.
//!
//! Known limit: a CRM that fills a mapped field on its own when the host
//! creates a record (a default the host did not send) makes that record's
//! first read a change; the agent then learns the default, once.

use std::collections::BTreeMap;

use crate::record::Value;
use crate::store::Shadow;

/// A value in the one text form both sides compare in: what the host sent
/// and what the CRM answers for it must look alike. Empty is none.
pub fn canonical(value: &Value) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    Some(match value {
        Value::Null => return None,
        Value::Text(text) => text.trim().to_owned(),
        Value::Number(n) => format_number(*n),
        Value::Boolean(b) => b.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        // CRMs keep milliseconds.
        Value::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Value::Multi(items) => {
            let mut items: Vec<&str> = items.iter().map(|i| i.trim()).collect();
            items.sort_unstable();
            items.join(";")
        }
    })
}

/// Whole numbers without a fraction, so `1054` and `1054.0` agree.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Whether a record read with `values` (mapped CRM field to canonical
/// value), fetched at `fetched_at`, tells the agent something new against
/// its `shadow`.
pub fn is_change(
    values: &BTreeMap<String, Option<String>>,
    shadow: Option<&Shadow>,
    fetched_at: &str,
) -> bool {
    let Some(shadow) = shadow.filter(|s| !s.is_empty()) else {
        return true;
    };
    values.iter().any(|(field, value)| match shadow.get(field) {
        Some(known) if known.updated_at.as_str() > fetched_at => false,
        Some(known) => known.value != *value,
        None => value.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShadowValue;

    fn shadow(rows: &[(&str, Option<&str>, &str)]) -> Shadow {
        rows.iter()
            .map(|(field, value, at)| {
                let value = ShadowValue {
                    value: value.map(str::to_owned),
                    updated_at: (*at).to_owned(),
                };
                ((*field).to_owned(), value)
            })
            .collect()
    }

    fn read(rows: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        rows.iter()
            .map(|(f, v)| ((*f).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    const T1: &str = "2026-01-01T00:00:01.000000Z";
    const T2: &str = "2026-01-01T00:00:02.000000Z";
    const T3: &str = "2026-01-01T00:00:03.000000Z";

    #[test]
    fn the_hosts_own_write_read_back_is_no_change() {
        let known = shadow(&[("Name", Some("Acme"), T1), ("StageName", Some("Won"), T1)]);
        let values = read(&[("Name", Some("Acme")), ("StageName", Some("Won"))]);
        assert!(!is_change(&values, Some(&known), T2));
    }

    #[test]
    fn a_rep_editing_a_field_the_host_wrote_is_a_change() {
        let known = shadow(&[("StageName", Some("Won"), T1)]);
        let values = read(&[("StageName", Some("Lost"))]);
        assert!(is_change(&values, Some(&known), T2));
    }

    #[test]
    fn a_move_back_to_the_hosts_old_value_is_a_change() {
        // The feed gave out the rep's `Lost`; the shadow holds it now.
        let known = shadow(&[("StageName", Some("Lost"), T2)]);
        let values = read(&[("StageName", Some("Won"))]);
        assert!(is_change(&values, Some(&known), T3));
    }

    #[test]
    fn a_field_the_host_never_wrote_is_compared_with_empty() {
        let known = shadow(&[("Name", Some("Acme"), T1)]);
        assert!(!is_change(
            &read(&[("Name", Some("Acme")), ("Phone", None)]),
            Some(&known),
            T2
        ));
        assert!(is_change(
            &read(&[("Name", Some("Acme")), ("Phone", Some("555"))]),
            Some(&known),
            T2
        ));
    }

    #[test]
    fn a_record_the_agent_never_saw_is_a_change() {
        assert!(is_change(&read(&[("Name", Some("Acme"))]), None, T2));
    }

    #[test]
    fn a_shadow_newer_than_the_fetch_is_not_compared() {
        // The host wrote `Won` after the page (holding `Open`) was fetched.
        let known = shadow(&[("StageName", Some("Won"), T3)]);
        let values = read(&[("StageName", Some("Open"))]);
        assert!(!is_change(&values, Some(&known), T2));
    }

    #[test]
    fn values_agree_across_crm_spellings() {
        assert_eq!(canonical(&Value::Number(1054.0)), Some("1054".into()));
        assert_eq!(canonical(&Value::Text(" x ".into())), Some("x".into()));
        assert_eq!(canonical(&Value::Text(String::new())), None);
        assert_eq!(canonical(&Value::Null), None);
        let multi = Value::Multi(vec!["b".into(), "a".into()]);
        assert_eq!(canonical(&multi), Some("a;b".into()));
    }
}
