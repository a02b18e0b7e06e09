//! An activity's links to the records it relates to.
//!
//! In HubSpot each related record is an association, made with the
//! activity. In Salesforce a link is a lookup field on the activity, and the
//! field is read off the describe: the one reference field whose
//! `referenceTo` names the related record's object (`WhoId` for a Contact,
//! `WhatId` for an Opportunity on a Task; `Contact__c` on a custom object).
//! It is never guessed: an object with no such field, or with several, fails
//! the activity unless the customer's plugin names the field.

use super::RecordError;
use crate::config::{CustomerConfig, Provider};
use crate::record::{Activity, Association, CrmWrite};
use crate::schema::{FieldType, ObjectSchema, OrgSchema};

/// Adds an association per related record to the activity's draft write,
/// with its Salesforce lookup field where the describe names exactly one.
pub(super) fn draft(
    config: &CustomerConfig,
    schema: &OrgSchema,
    activity: &Activity,
    write: &mut CrmWrite,
) {
    let object = schema.objects.get(&write.object);
    for related in &activity.related {
        let Some(mapping) = config.entities.get(&related.entity) else {
            continue;
        };
        let via = match (config.provider, object) {
            (Provider::Salesforce, Some(object)) => {
                let fields = lookup_fields(object, &mapping.object);
                match fields.as_slice() {
                    [one] => Some((*one).to_owned()),
                    _ => None,
                }
            }
            _ => None,
        };
        write.associations.push(Association {
            object: mapping.object.clone(),
            target: related.target.clone(),
            via,
        });
    }
}

/// Checks the links of an activity's final write: each Salesforce link has
/// a lookup field, and no field holds two records. Where two links route to
/// one field and one record's object looks the other's up (an Opportunity's
/// `AccountId` names the Account), the more specific record keeps the field,
/// since Salesforce derives the other from it; returned are the links so
/// dropped, to be reported.
pub(super) fn settle(
    config: &CustomerConfig,
    schema: &OrgSchema,
    write: &mut CrmWrite,
) -> Result<Vec<Association>, RecordError> {
    if config.provider != Provider::Salesforce {
        return Ok(Vec::new());
    }
    let Some(object) = schema.objects.get(&write.object) else {
        return Ok(Vec::new());
    };
    for association in &write.associations {
        if association.via.is_none() {
            return Err(unroutable(object, &association.object));
        }
    }

    let mut dropped = Vec::new();
    let mut kept: Vec<Association> = Vec::new();
    for association in std::mem::take(&mut write.associations) {
        let same = kept.iter().position(|k| k.via == association.via);
        let Some(at) = same else {
            kept.push(association);
            continue;
        };
        let field = association.via.clone().unwrap_or_default();
        let holder = &kept[at];
        if holder.object == association.object {
            return Err(conflict(object, &field, "two records of one object"));
        }
        if looks_up(schema, &holder.object, &association.object) {
            dropped.push(association);
        } else if looks_up(schema, &association.object, &holder.object) {
            dropped.push(std::mem::replace(&mut kept[at], association));
        } else {
            let both = format!("`{}` and `{}`", holder.object, association.object);
            return Err(conflict(object, &field, &both));
        }
    }
    write.associations = kept;
    Ok(dropped)
}

/// The createable reference fields of `object` that may point to `target`.
fn lookup_fields<'a>(object: &'a ObjectSchema, target: &str) -> Vec<&'a str> {
    object
        .fields
        .values()
        .filter(|f| f.kind == FieldType::Reference && f.createable)
        .filter(|f| {
            f.reference_to
                .iter()
                .any(|t| t.eq_ignore_ascii_case(target))
        })
        .map(|f| f.name.as_str())
        .collect()
}

/// Whether `object` has a lookup to `target` (an Opportunity to an Account).
fn looks_up(schema: &OrgSchema, object: &str, target: &str) -> bool {
    schema
        .objects
        .get(object)
        .is_some_and(|o| !lookup_fields(o, target).is_empty())
}

fn unroutable(object: &ObjectSchema, target: &str) -> RecordError {
    let fields = lookup_fields(object, target);
    let message = if fields.is_empty() {
        format!(
            "`{}` has no lookup field to `{target}`, so the activity cannot be linked to it",
            object.name
        )
    } else {
        format!(
            "`{}` has several lookup fields to `{target}` ({}); the customer's plugin must \
             name the one to set",
            object.name,
            fields.join(", ")
        )
    };
    RecordError::input("link_unroutable", message, Some("related".into()))
}

fn conflict(object: &ObjectSchema, field: &str, what: &str) -> RecordError {
    RecordError::input(
        "link_conflict",
        format!(
            "`{}.{field}` holds one record, and {what} are related through it; relate only \
             one, or let the customer's plugin choose",
            object.name
        ),
        Some("related".into()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::record::{MatchKey, Target, Value};
    use crate::schema::FieldSchema;

    fn object(name: &str, lookups: &[(&str, &[&str])]) -> ObjectSchema {
        let fields = lookups
            .iter()
            .map(|(field, to)| {
                let schema = FieldSchema {
                    reference_to: to.iter().map(|t| (*t).to_owned()).collect(),
                    ..FieldSchema::new(field, FieldType::Reference)
                };
                ((*field).to_owned(), schema)
            })
            .collect();
        ObjectSchema {
            name: name.into(),
            fields,
        }
    }

    /// Task, Opportunity (which looks up Account) and a custom object with
    /// two lookups to Contact.
    fn org() -> OrgSchema {
        let objects = [
            object(
                "Task",
                &[
                    ("WhoId", &["Contact", "Lead"]),
                    ("WhatId", &["Account", "Opportunity"]),
                ],
            ),
            object("Opportunity", &[("AccountId", &["Account"])]),
            object("Account", &[]),
            object(
                "Visit__c",
                &[("Host__c", &["Contact"]), ("Guest__c", &["Contact"])],
            ),
        ];
        OrgSchema {
            objects: objects
                .into_iter()
                .map(|o| (o.name.clone(), o))
                .collect::<BTreeMap<_, _>>(),
            catalog: Vec::new(),
        }
    }

    fn link(object: &str, via: Option<&str>) -> Association {
        Association {
            object: object.into(),
            target: Target::Lookup(MatchKey {
                field: "Name".into(),
                value: Value::Text(format!("the {object}")),
            }),
            via: via.map(str::to_owned),
        }
    }

    fn task(links: Vec<Association>) -> CrmWrite {
        CrmWrite {
            object: "Task".into(),
            reference_id: None,
            match_key: None,
            fields: Default::default(),
            associations: links,
        }
    }

    fn salesforce() -> CustomerConfig {
        let integration = "entities:\n  company:\n    salesforce: { object: Account }\n";
        crate::config::from_yaml(integration, "customer: acme\ncrm: salesforce\n")
    }

    #[test]
    fn the_describe_routes_each_object_to_its_one_lookup() {
        let org = org();
        let task = &org.objects["Task"];
        assert_eq!(lookup_fields(task, "Contact"), ["WhoId"]);
        assert_eq!(lookup_fields(task, "opportunity"), ["WhatId"]);
        assert!(lookup_fields(task, "Invoice__c").is_empty());
        assert_eq!(lookup_fields(&org.objects["Visit__c"], "Contact").len(), 2);
    }

    #[test]
    fn a_deal_keeps_whatid_and_its_company_is_reported_as_implied() {
        let config = salesforce();
        let mut write = task(vec![
            link("Account", Some("WhatId")),
            link("Contact", Some("WhoId")),
            link("Opportunity", Some("WhatId")),
        ]);
        let dropped = settle(&config, &org(), &mut write).expect("settles");
        let kept: Vec<&str> = write
            .associations
            .iter()
            .map(|a| a.object.as_str())
            .collect();
        assert_eq!(kept, ["Opportunity", "Contact"]);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].object, "Account");
    }

    #[test]
    fn links_no_lookup_can_hold_fail_the_activity() {
        let config = salesforce();
        let mut unroutable = task(vec![link("Invoice__c", None)]);
        let error = settle(&config, &org(), &mut unroutable).expect_err("no lookup");
        assert_eq!(error.code, "link_unroutable");
        assert!(
            error.message.contains("no lookup field to `Invoice__c`"),
            "{}",
            error.message
        );

        let mut two_contacts = task(vec![
            link("Contact", Some("WhoId")),
            link("Contact", Some("WhoId")),
        ]);
        let error = settle(&config, &org(), &mut two_contacts).expect_err("one WhoId");
        assert_eq!(error.code, "link_conflict");

        let mut visit = CrmWrite {
            object: "Visit__c".into(),
            ..task(vec![link("Contact", None)])
        };
        let error = settle(&config, &org(), &mut visit).expect_err("two lookups");
        assert!(
            error.message.contains("Guest__c, Host__c"),
            "{}",
            error.message
        );
    }
}
