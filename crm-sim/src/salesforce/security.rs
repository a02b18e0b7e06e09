//! Field-level security per user: fields a user's profile makes read-only (`read_only`) or
//! invisible (`hidden`). Writing a read-only field answers `INVALID_FIELD_FOR_INSERT_UPDATE`;
//! a hidden field does not exist for that user, so writing, selecting or filtering on it
//! answers `INVALID_FIELD`, and describe leaves it out.

use serde::Deserialize;
use serde_json::Value;

use super::store::OrgState;

/// One user's field security on one object, from the profile's `field_security`:
///
/// ```yaml
/// field_security:
///   - { user: ada@example.com, object: Opportunity, read_only: [Amount],
///       hidden: [Product__c] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSecurity {
    /// The user: an Id, username or email.
    pub user: String,
    /// The object.
    pub object: String,
    /// Fields the user can read but not write.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Fields the user can neither read nor write.
    #[serde(default)]
    pub hidden: Vec<String>,
}

impl OrgState {
    /// The rules that apply to the acting user on `object`.
    fn security_of<'a>(&'a self, object: &'a str) -> impl Iterator<Item = &'a FieldSecurity> {
        let user = self.acting_user();
        self.field_security.iter().filter(move |r| {
            r.object.eq_ignore_ascii_case(object)
                && self.user_id(&r.user).as_deref() == Some(user.as_str())
        })
    }

    /// Whether the acting user cannot see `field` of `object`.
    pub fn is_hidden(&self, object: &str, field: &str) -> bool {
        self.security_of(object)
            .any(|r| r.hidden.iter().any(|h| h.eq_ignore_ascii_case(field)))
    }

    /// Whether the acting user can see but not write `field` of `object`.
    pub fn is_read_only(&self, object: &str, field: &str) -> bool {
        self.security_of(object)
            .any(|r| r.read_only.iter().any(|h| h.eq_ignore_ascii_case(field)))
    }

    /// `describe` as the acting user sees it: hidden fields left out, read-only ones neither
    /// createable nor updateable.
    pub fn describe_for_caller(&self, object: &str, describe: &Value) -> Value {
        let mut describe = describe.clone();
        if let Some(fields) = describe.get_mut("fields").and_then(Value::as_array_mut) {
            fields.retain(|f| !self.is_hidden(object, f["name"].as_str().unwrap_or_default()));
            for field in fields.iter_mut() {
                if self.is_read_only(object, field["name"].as_str().unwrap_or_default()) {
                    field["createable"] = Value::Bool(false);
                    field["updateable"] = Value::Bool(false);
                }
            }
        }
        describe
    }
}
