//! The org's records, tokens and ownership rules, and the system fields Salesforce maintains.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::custom::auto_number_value;
use super::describe::{SObject, Schema};
use super::duplicates::DuplicateRule;
use super::grants::Grants;
use super::profile::Territory;
use super::security::FieldSecurity;
use super::task;
use super::validation::ValidationRule;
use crate::OAuthClient;
use crate::index::ValueIndex;

/// Who a data call runs as, from its access token and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The acting user's Id.
    pub user: String,
    /// Whether assignment rules run (`Sforce-Auto-Assign` is not `FALSE`).
    pub auto_assign: bool,
    /// Whether duplicate rules with `action: allow` let saves through
    /// (`Sforce-Duplicate-Rule-Header: allowSave=true`).
    pub allow_duplicates: bool,
}

/// Everything behind the org's lock.
#[derive(Debug)]
pub(crate) struct OrgState {
    /// Objects and fields.
    pub schema: Schema,
    /// Records by object name, then by Id (Ids grow, so this is insertion order).
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    /// Deleted records, by object name then Id, as the Recycle Bin keeps them for
    /// `queryAll`, with `IsDeleted` true.
    pub deleted: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    /// Ids by unique and external id field values, per object; kept in step
    /// with `records` by the methods below, and snapshotted with it.
    pub index: HashMap<String, ValueIndex<String>>,
    /// Access and refresh tokens, codes, JWT keys and pre-authorizations.
    pub auth: Grants,
    /// Who the call being served runs as; `None` outside a data call (the Rust API), which
    /// then acts as the integration user.
    pub caller: Option<Caller>,
    /// The territory rule, if any.
    pub territory: Option<Territory>,
    /// The owner the lead assignment rule gives new Leads (user id or username), if any.
    pub lead_owner: Option<String>,
    /// The journals of the transactions under way, innermost last.
    pub journals: Vec<Journal>,
    /// The org's validation rules.
    pub validation_rules: Vec<ValidationRule>,
    /// Field-level security per user.
    pub field_security: Vec<FieldSecurity>,
    /// The org's duplicate rules.
    pub duplicate_rules: Vec<DuplicateRule>,
    /// Rows of queries still to be fetched, by query locator.
    pub cursors: HashMap<String, Vec<Value>>,
    /// The counter behind new Ids. Salesforce never gives an Id twice, not even one a rolled
    /// back transaction had given, so snapshots leave it alone: a client that kept an Id
    /// from a rolled-back write finds no record by it.
    pub next_id: u64,
    /// The last auto-number given, per object. Salesforce does not take numbers back when a
    /// transaction rolls back, so snapshots leave these alone.
    pub auto_numbers: HashMap<String, u64>,
    /// The integration user's Id.
    pub integration_user: String,
    /// OAuth clients the token endpoint accepts.
    pub clients: Vec<OAuthClient>,
    /// Access-token lifetime.
    pub ttl: Duration,
}

/// A transaction begun, to roll back to or commit.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Its journal's place on the stack.
    depth: usize,
}

/// Each record a transaction touched, as it was when the transaction began: live and in
/// the Recycle Bin. Rolling back puts these back, so a transaction costs what it touches
/// rather than a copy of the org.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    before: HashMap<(String, String), (Option<Record>, Option<Record>)>,
}

type Record = Map<String, Value>;

/// Now, formatted as Salesforce formats datetimes: `2024-05-01T12:00:00.000+0000`.
pub(crate) fn now_datetime() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// Appends the three-character case-safe suffix that turns a 15-character Id into 18.
pub(crate) fn case_safe(id15: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut id = id15.to_owned();
    for chunk in id15.as_bytes().chunks(5) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        id.push(char::from(ALPHABET[bits % ALPHABET.len()]));
    }
    id
}

impl OrgState {
    /// An org with `schema`, no records or users, and no tokens yet.
    pub fn new(schema: Schema, clients: Vec<OAuthClient>, ttl: Duration) -> Self {
        Self {
            schema,
            records: BTreeMap::new(),
            deleted: BTreeMap::new(),
            index: HashMap::new(),
            auth: Grants::default(),
            caller: None,
            territory: None,
            lead_owner: None,
            journals: Vec::new(),
            validation_rules: Vec::new(),
            field_security: Vec::new(),
            duplicate_rules: Vec::new(),
            cursors: HashMap::new(),
            next_id: 1,
            auto_numbers: HashMap::new(),
            integration_user: String::new(),
            clients,
            ttl,
        }
    }

    /// Begins a transaction: what it changes can be rolled back with [`Self::restore`], and
    /// is kept with [`Self::commit`].
    pub fn snapshot(&mut self) -> Snapshot {
        self.journals.push(Journal::default());
        Snapshot {
            depth: self.journals.len() - 1,
        }
    }

    /// Keeps what the transaction changed; an enclosing transaction can still roll it back.
    pub fn commit(&mut self, snapshot: Snapshot) {
        while self.journals.len() > snapshot.depth {
            let Some(done) = self.journals.pop() else {
                break;
            };
            if let Some(outer) = self.journals.last_mut() {
                for (key, before) in done.before {
                    outer.before.entry(key).or_insert(before);
                }
            }
        }
    }

    /// Puts the records back as they were when `snapshot` began.
    pub fn restore(&mut self, snapshot: Snapshot) {
        while self.journals.len() > snapshot.depth {
            let Some(journal) = self.journals.pop() else {
                break;
            };
            for ((object, id), (live, deleted)) in journal.before {
                self.put_back(&object, &id, live, deleted);
            }
        }
    }

    /// Notes the record as it is now in the innermost transaction's journal, the first time
    /// the transaction touches it.
    fn remember(&mut self, object: &str, id: &str) {
        let key = (object.to_owned(), id.to_owned());
        if self
            .journals
            .last()
            .is_none_or(|j| j.before.contains_key(&key))
        {
            return;
        }
        let live = self.records.get(object).and_then(|r| r.get(id)).cloned();
        let deleted = self.deleted.get(object).and_then(|r| r.get(id)).cloned();
        if let Some(journal) = self.journals.last_mut() {
            journal.before.insert(key, (live, deleted));
        }
    }

    /// Sets a record, live and deleted, back to what a journal holds, its index with it.
    fn put_back(&mut self, object: &str, id: &str, live: Option<Record>, deleted: Option<Record>) {
        let current = self.records.get_mut(object).and_then(|r| r.remove(id));
        if let Some(current) = current {
            self.index_values(object, id, &current, false);
        }
        if let Some(live) = live {
            self.index_values(object, id, &live, true);
            let records = self.records.entry(object.to_owned()).or_default();
            records.insert(id.to_owned(), live);
        }
        let bin = self.deleted.entry(object.to_owned()).or_default();
        match deleted {
            Some(record) => bin.insert(id.to_owned(), record),
            None => bin.remove(id),
        };
    }

    /// The Id of the user the current call runs as.
    pub fn acting_user(&self) -> String {
        match &self.caller {
            Some(caller) => caller.user.clone(),
            None => self.integration_user.clone(),
        }
    }

    /// The Id of the user named by `name`: an Id, a username or an email (case-insensitive).
    pub fn user_id(&self, name: &str) -> Option<String> {
        let matches = |field: &str, user: &Map<String, Value>| {
            user.get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(name))
        };
        let by_id =
            |user: &Map<String, Value>| user.get("Id").and_then(Value::as_str) == Some(name);
        self.records_of("User")
            .find(|u| by_id(u) || matches("Username", u) || matches("Email", u))
            .and_then(|u| u.get("Id").and_then(Value::as_str).map(str::to_owned))
    }

    /// Whether the user with this Id exists and is active.
    pub fn is_active(&self, id: &str) -> bool {
        let user = self.get("User", id);
        user.and_then(|u| u.get("IsActive"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// A fresh 18-character Id with `prefix`.
    pub fn new_id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        case_safe(&format!("{prefix:0>3.3}5g{n:0>10}"))
    }

    /// The canonical name of `object`, or `object` itself if the org does not have it.
    fn canonical(&self, object: &str) -> String {
        self.schema
            .object(object)
            .map(|o| o.name.clone())
            .unwrap_or_else(|| object.to_owned())
    }

    /// Adds an active user; returns its Id.
    pub fn insert_user(&mut self, email: &str, first: &str, last: &str) -> String {
        let mut fields = Map::new();
        fields.insert("Username".into(), json!(email));
        fields.insert("Email".into(), json!(email));
        fields.insert("FirstName".into(), json!(first));
        fields.insert("LastName".into(), json!(last));
        fields.insert("Name".into(), json!(format!("{first} {last}").trim()));
        fields.insert("IsActive".into(), json!(true));
        self.insert_unchecked("User", fields)
    }

    /// Every record of `object`.
    pub fn all(&self, object: &str) -> Vec<Map<String, Value>> {
        self.records
            .get(&self.canonical(object))
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every record of `object`, borrowed, in Id order.
    pub fn records_of(&self, object: &str) -> impl Iterator<Item = &Map<String, Value>> {
        self.records
            .get(&self.canonical(object))
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// One record of `object`, by its 15- or 18-character Id.
    pub fn get(&self, object: &str, id: &str) -> Option<&Map<String, Value>> {
        let records = self.records.get(&self.canonical(object))?;
        if id.len() == 15 {
            return records
                .iter()
                .find(|(k, _)| k.starts_with(id))
                .map(|(_, v)| v);
        }
        records.get(id)
    }

    /// Stores a new record, setting Id, owner and audit fields; returns the Id.
    pub fn insert_unchecked(&mut self, object: &str, mut fields: Map<String, Value>) -> String {
        let object = self.canonical(object);
        let sobject = self.schema.object(&object).cloned();
        let (prefix, has_owner) = match &sobject {
            Some(o) => (o.key_prefix.clone(), o.has_owner()),
            None => ("000".to_owned(), false),
        };
        let id = self.new_id(&prefix);
        let now = now_datetime();
        // The integration user is the first record: it creates itself.
        let user = if self.integration_user.is_empty() {
            id.clone()
        } else {
            self.acting_user()
        };
        fields.remove("attributes");
        fields.insert("Id".into(), json!(id));
        if has_owner && fields.get("OwnerId").is_none_or(Value::is_null) {
            fields.insert("OwnerId".into(), json!(user));
        }
        for key in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            fields.insert(key.into(), json!(now));
        }
        fields.insert("CreatedById".into(), json!(user));
        fields.insert("LastModifiedById".into(), json!(user));
        if let Some(sobject) = &sobject {
            self.fill_defaults(sobject, &mut fields);
        }
        derive(&object, &mut fields);
        self.remember(&object, &id);
        self.index_values(&object, &id, &fields, true);
        self.records
            .entry(object)
            .or_default()
            .insert(id.clone(), fields);
        id
    }

    /// Merges `fields` into a stored record and bumps its modification stamps.
    pub fn update_unchecked(&mut self, object: &str, id: &str, fields: Map<String, Value>) {
        let Some(full_id) = self
            .get(object, id)
            .and_then(|r| r.get("Id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let user = self.acting_user();
        let object = self.canonical(object);
        self.remember(&object, &full_id);
        if let Some(before) = self.records.get(&object).and_then(|r| r.get(&full_id)) {
            let before = before.clone();
            self.index_values(&object, &full_id, &before, false);
            self.index_values(&object, &full_id, &merged(before, &fields), true);
        }
        if let Some(record) = self
            .records
            .get_mut(&object)
            .and_then(|r| r.get_mut(&full_id))
        {
            for (key, value) in fields {
                if key != "attributes" && key != "Id" {
                    record.insert(key, value);
                }
            }
            derive(&object, record);
            let now = now_datetime();
            record.insert("LastModifiedDate".into(), json!(now));
            record.insert("SystemModstamp".into(), json!(now));
            record.insert("LastModifiedById".into(), json!(user));
        }
    }

    /// Sets what a create leaves out and Salesforce fills: picklist and boolean defaults,
    /// and the next auto-number.
    fn fill_defaults(&mut self, sobject: &SObject, fields: &mut Map<String, Value>) {
        for field in sobject.fields.iter().filter(|f| f.defaulted_on_create) {
            if let Some(default) = &field.default_value
                && fields.get(&field.name).is_none_or(Value::is_null)
            {
                fields.insert(field.name.clone(), default.clone());
            }
        }
        for (name, format) in &sobject.auto_numbers {
            let counter = self.auto_numbers.entry(sobject.name.clone()).or_default();
            *counter += 1;
            let value = auto_number_value(format, *counter);
            fields.insert(name.clone(), json!(value));
        }
    }

    /// Sets `LastModifiedDate` and `SystemModstamp` of the live records `ids` of `object`
    /// to `stamp` (Salesforce's datetime format); returns how many it found.
    pub fn set_modstamp(&mut self, object: &str, ids: &[String], stamp: &str) -> usize {
        let object = self.canonical(object);
        for id in ids {
            self.remember(&object, id);
        }
        let Some(records) = self.records.get_mut(&object) else {
            return 0;
        };
        let mut found = 0;
        for id in ids {
            if let Some(record) = records.get_mut(id) {
                record.insert("LastModifiedDate".into(), json!(stamp));
                record.insert("SystemModstamp".into(), json!(stamp));
                found += 1;
            }
        }
        found
    }

    /// Gives a record to `owner` without touching its modification stamps, as Salesforce's
    /// assignment and territory rules do.
    pub fn set_owner(&mut self, object: &str, id: &str, owner: &str) {
        let object = self.canonical(object);
        self.remember(&object, id);
        let record = self.records.get_mut(&object).and_then(|r| r.get_mut(id));
        if let Some(record) = record {
            record.insert("OwnerId".into(), json!(owner));
        }
    }

    /// Deletes a record into the Recycle Bin; returns whether it existed.
    pub fn delete(&mut self, object: &str, id: &str) -> bool {
        let Some(full_id) = self
            .get(object, id)
            .and_then(|r| r.get("Id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return false;
        };
        let object = self.canonical(object);
        self.remember(&object, &full_id);
        let Some(removed) = self
            .records
            .get_mut(&object)
            .and_then(|r| r.remove(&full_id))
        else {
            return false;
        };
        self.index_values(&object, &full_id, &removed, false);
        let mut removed = removed;
        removed.insert("IsDeleted".into(), json!(true));
        removed.insert("SystemModstamp".into(), json!(now_datetime()));
        self.deleted
            .entry(object)
            .or_default()
            .insert(full_id, removed);
        true
    }

    /// Every deleted record of `object`, in Id order.
    pub fn deleted_of(&self, object: &str) -> impl Iterator<Item = &Map<String, Value>> {
        self.deleted
            .get(&self.canonical(object))
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// The fields of `object` that records are looked up by: unique and
    /// external id fields.
    fn indexed_fields(&self, object: &str) -> Vec<String> {
        self.schema
            .object(object)
            .map(|o| {
                let keys = o.fields.iter().filter(|f| f.unique || f.external_id);
                keys.map(|f| f.name.clone()).collect()
            })
            .unwrap_or_default()
    }

    /// Whether `field` of `object` is indexed, so [`Self::candidates`] can
    /// answer for it.
    pub fn is_indexed(&self, object: &str, field: &str) -> bool {
        self.indexed_fields(&self.canonical(object))
            .iter()
            .any(|f| f == field)
    }

    /// The Ids of `object`'s records that may hold `value` in the indexed
    /// `field`, in Id order. Callers compare each with the real rule.
    pub fn candidates(&self, object: &str, field: &str, value: &str) -> Vec<String> {
        self.index
            .get(&self.canonical(object))
            .map(|index| index.candidates(field, value).cloned().collect())
            .unwrap_or_default()
    }

    /// Adds (`add`) or removes the record's indexed values.
    fn index_values(&mut self, object: &str, id: &str, record: &Map<String, Value>, add: bool) {
        let fields = self.indexed_fields(object);
        let index = self.index.entry(object.to_owned()).or_default();
        for field in fields {
            let Some(value) = record.get(&field).and_then(Value::as_str) else {
                continue;
            };
            if add {
                index.insert(&field, value, id.to_owned());
            } else {
                index.remove(&field, value, &id.to_owned());
            }
        }
    }
}

/// Sets the fields Salesforce derives from others on `object`'s record.
fn derive(object: &str, record: &mut Map<String, Value>) {
    if object == "Task" {
        for (name, value) in task::derived_values(record) {
            record.insert(name.into(), json!(value));
        }
    }
}

/// `record` with `changes` applied, as an update stores it.
fn merged(mut record: Map<String, Value>, changes: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in changes {
        if key != "attributes" && key != "Id" {
            record.insert(key.clone(), value.clone());
        }
    }
    record
}
