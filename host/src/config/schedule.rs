//! The `schedule:` of the integration and customer files: how often each
//! periodic task runs, e.g. `schedule: {reads: 5m, schema_check: 1h}`.
//!
//! Intervals are written as people write them (`30s`, `5m`, `1h 30m`,
//! `1d`), or `off` to stop a task for a customer. The customer's entries
//! replace the integration's one by one.

use std::collections::BTreeMap;
use std::time::Duration;

/// The shortest interval a config may set: a task run more often than
/// this would spend the org's API allocation on little.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// The longest interval a config may set: a longer one is a task meant
/// to be `off`, and its next due time would leave the calendar.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What turns a task off.
const OFF: &str = "off";

/// Intervals by task name: none where the task is `off`.
pub type Intervals = BTreeMap<String, Option<Duration>>;

/// The effective intervals, or each bad entry's key and what is wrong.
pub(super) fn resolve(
    integration: &BTreeMap<String, String>,
    customer: &BTreeMap<String, String>,
) -> Result<Intervals, Vec<(String, String)>> {
    let mut merged = integration.clone();
    merged.extend(customer.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut intervals = BTreeMap::new();
    let mut errors = Vec::new();
    for (task, text) in &merged {
        match interval(text) {
            Ok(every) => {
                intervals.insert(task.clone(), every);
            }
            Err(message) => errors.push((format!("schedule.{task}"), message)),
        }
        if !is_task_name(task) {
            errors.push((
                format!("schedule.{task}"),
                format!("`{task}` is not a task name: lowercase letters, digits and `_`"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(intervals)
    } else {
        Err(errors)
    }
}

/// One interval, or none for `off`.
fn interval(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case(OFF) {
        return Ok(None);
    }
    let every = humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not an interval such as `30s`, `5m`, `1h` or `off`: {e}")
    })?;
    if every < MIN_INTERVAL {
        return Err(format!(
            "`{text}` is shorter than the shortest interval, {}",
            humantime::format_duration(MIN_INTERVAL)
        ));
    }
    if every > MAX_INTERVAL {
        return Err(format!(
            "`{text}` is longer than the longest interval, {}; use `off` to stop the task",
            humantime::format_duration(MAX_INTERVAL)
        ));
    }
    Ok(Some(every))
}

fn is_task_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_customer_replaces_the_integrations_intervals_one_by_one() {
        let integration = map(&[("reads", "5m"), ("schema_check", "1h")]);
        let customer = map(&[("reads", "off"), ("backfill", "1h 30m")]);
        let resolved = resolve(&integration, &customer).expect("valid intervals");
        assert_eq!(resolved["reads"], None);
        assert_eq!(resolved["schema_check"], Some(Duration::from_secs(3600)));
        assert_eq!(resolved["backfill"], Some(Duration::from_secs(5400)));
    }

    #[test]
    fn a_bad_interval_names_its_task_and_value() {
        let errors =
            resolve(&map(&[]), &map(&[("reads", "often"), ("drift", "1s")])).expect_err("refused");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, "schedule.drift");
        assert!(errors[0].1.contains("shorter than"), "{}", errors[0].1);
        assert_eq!(errors[1].0, "schedule.reads");
        assert!(
            errors[1].1.contains("`often` is not an interval"),
            "{}",
            errors[1].1
        );
    }

    #[test]
    fn task_names_are_identifiers() {
        let errors = resolve(&map(&[]), &map(&[("Schema Check", "1h")])).expect_err("refused");
        assert!(errors[0].1.contains("not a task name"), "{errors:?}");
    }

    #[test]
    fn an_interval_past_thirty_days_is_refused() {
        let errors =
            resolve(&map(&[]), &map(&[("reads", "99999999999999d")])).expect_err("refused");
        assert!(errors[0].1.contains("longer than"), "{errors:?}");
        let resolved = resolve(&map(&[]), &map(&[("reads", "30d")])).expect("at the limit");
        assert_eq!(resolved["reads"], Some(MAX_INTERVAL));
    }
}
