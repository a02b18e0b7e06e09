//! Naming a CRM call for metrics and spans: the path with record ids
//! replaced, so that the set of endpoints stays small, and the CRM object
//! it addresses, when the path names one.

/// The path with every record id replaced by `{id}`: a segment that holds a
/// digit and is not an API version (`v3`, `v60.0`).
///
/// Object names (`Account`, `deals`, `Sales_Activity__c`) stay: a customer
/// has a few, and they tell an operator which calls are slow.
pub(crate) fn label(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/')
        .map(|segment| {
            if segment.bytes().any(|b| b.is_ascii_digit()) && !is_version(segment) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The CRM object a path addresses: the segment after `sobjects` (Salesforce)
/// or `objects` (HubSpot), when it is not an id.
pub(crate) fn object(path: &str) -> Option<&str> {
    let mut segments = path.split('?').next().unwrap_or_default().split('/');
    segments.find(|s| *s == "sobjects" || *s == "objects")?;
    segments
        .next()
        .filter(|s| !s.is_empty() && !s.bytes().any(|b| b.is_ascii_digit()))
}

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_replaced_and_versions_kept() {
        assert_eq!(
            label("/services/data/v60.0/sobjects/Account/001xx000003DGb2AAG"),
            "/services/data/v60.0/sobjects/Account/{id}"
        );
        assert_eq!(
            label("/crm/v3/objects/deals/123456/associations"),
            "/crm/v3/objects/deals/{id}/associations"
        );
        assert_eq!(
            label("/crm/v3/objects/companies/batch/create"),
            "/crm/v3/objects/companies/batch/create"
        );
        assert_eq!(
            label("/services/data/v60.0/query/01gxx0000004C92AAE-2000"),
            "/services/data/v60.0/query/{id}"
        );
    }

    #[test]
    fn the_object_is_read_from_either_crm_path() {
        assert_eq!(
            object("/services/data/v60.0/sobjects/Opportunity/describe"),
            Some("Opportunity")
        );
        assert_eq!(object("/crm/v3/objects/deals/batch/read"), Some("deals"));
        assert_eq!(object("/services/data/v60.0/composite/sobjects"), None);
        assert_eq!(object("/services/data/v60.0/query"), None);
    }
}
