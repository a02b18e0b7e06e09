//! SOQL: `SELECT f, ... FROM Object [WHERE cond] [ORDER BY f [ASC|DESC], ...] [LIMIT n]`, and
//! the query resource with 2000-row pages behind `nextRecordsUrl`. `ORDER BY` takes several
//! fields, later ones breaking ties of earlier ones, as keyset paging on
//! `(SystemModstamp, Id)` needs.
//!
//! Conditions compare a field with `=`, `!=`, `<`, `>`, `<=`, `>=` against a quoted string,
//! number, `true`/`false`, `null`, a date or a datetime literal, or test `IN (...)`, combined
//! with `AND`, `OR` and parentheses. Relationship paths, functions and aggregates are not
//! supported and answer `MALFORMED_QUERY`.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, SfError};
use super::sobjects::render;
use super::store::{Caller, OrgState};
use super::write::{parse_date, parse_datetime};
use super::{API_VERSION, Org};

/// Rows per page, as Salesforce's default batch size.
const PAGE_SIZE: usize = 2000;

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `'text'`.
    Text(String),
    /// `42`, `-1.5`.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `2024-01-31`.
    Date(String),
    /// `2024-01-31T00:00:00Z`, normalized to Salesforce's format.
    DateTime(String),
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// `field op literal`.
    Compare(String, String, Literal),
    /// `field IN (literals)`.
    In(String, InList),
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
}

/// The literals of an `IN (...)` list, with its text values lowercased into
/// a set once, so that matching a record costs one lookup instead of a
/// comparison per literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InList {
    /// The literals as written.
    literals: Vec<Literal>,
    /// The text literals, lowercased: SOQL compares text ignoring case.
    texts: HashSet<String>,
}

impl InList {
    fn new(literals: Vec<Literal>) -> Self {
        let texts = literals
            .iter()
            .filter_map(|l| match l {
                Literal::Text(t) => Some(t.to_lowercase()),
                _ => None,
            })
            .collect();
        InList { literals, texts }
    }

    /// The literals, when every one of them is text.
    fn texts_only(&self) -> Option<impl Iterator<Item = &str>> {
        let all_text = self.literals.iter().all(|l| matches!(l, Literal::Text(_)));
        all_text.then(|| {
            self.literals.iter().filter_map(|l| match l {
                Literal::Text(t) => Some(t.as_str()),
                _ => None,
            })
        })
    }

    fn contains(&self, value: &Value) -> bool {
        if let Value::String(s) = value
            && self.texts.contains(&s.to_lowercase())
        {
            return true;
        }
        self.literals
            .iter()
            .filter(|l| !matches!(l, Literal::Text(_)))
            .any(|l| compare(value, l) == Some(Ordering::Equal))
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Soql {
    /// Selected fields as written.
    pub fields: Vec<String>,
    /// The object as written.
    pub object: String,
    /// The condition.
    pub filter: Option<Cond>,
    /// `(field, descending)`, most significant first.
    pub order: Vec<(String, bool)>,
    /// Row limit.
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Symbol(String),
}

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        let escaped = chars.get(i + 1).ok_or("unterminated string literal")?;
                        text.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => *other,
                        });
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        text.push(*other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Text(text));
        } else if "(),".contains(c) {
            tokens.push(Token::Symbol(c.to_string()));
            i += 1;
        } else if "=!<>".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["!=", "<=", ">=", "<>"].contains(&two.as_str()) {
                two
            } else {
                c.to_string()
            };
            if op == "!" {
                return Err("unexpected token: '!'".into());
            }
            i += op.len();
            tokens.push(Token::Symbol(op));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"(),'=!<>".contains(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek_word(word);
        self.at += usize::from(found);
        found
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(format!("expecting '{word}', found '{}'", self.describe()))
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Symbol(s)) if s == symbol);
        self.at += usize::from(found);
        found
    }

    fn describe(&self) -> String {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) | Some(Token::Symbol(w)) => w.clone(),
            Some(Token::Text(t)) => format!("'{t}'"),
            None => "EOF".into(),
        }
    }

    fn identifier(&mut self) -> Result<String, String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                self.at += 1;
                Ok(w.clone())
            }
            _ => Err(format!("unexpected token: '{}'", self.describe())),
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("unexpected token: 'EOF'")?;
        self.at += 1;
        match token {
            Token::Text(t) => Ok(Literal::Text(t)),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Token::Word(w) => {
                if let Some(date) = parse_date(&w) {
                    Ok(Literal::Date(date))
                } else if w.contains('T')
                    && let Some(dt) = parse_datetime(&w)
                {
                    Ok(Literal::DateTime(dt))
                } else {
                    w.parse::<f64>()
                        .map(Literal::Number)
                        .map_err(|_| format!("unexpected token: '{w}'"))
                }
            }
            Token::Symbol(s) => Err(format!("unexpected token: '{s}'")),
        }
    }

    fn condition(&mut self) -> Result<Cond, String> {
        let mut left = self.conjunction()?;
        while self.eat_word("OR") {
            left = Cond::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Cond, String> {
        let mut left = self.atom()?;
        while self.eat_word("AND") {
            left = Cond::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Cond, String> {
        if self.eat_symbol("(") {
            let inner = self.condition()?;
            return if self.eat_symbol(")") {
                Ok(inner)
            } else {
                Err("expecting ')'".into())
            };
        }
        let field = self.identifier()?;
        if self.eat_word("IN") {
            if !self.eat_symbol("(") {
                return Err("expecting '('".into());
            }
            let mut values = vec![self.literal()?];
            while self.eat_symbol(",") {
                values.push(self.literal()?);
            }
            return if self.eat_symbol(")") {
                Ok(Cond::In(field, InList::new(values)))
            } else {
                Err("expecting ')'".into())
            };
        }
        let op = match self.tokens.get(self.at) {
            Some(Token::Symbol(s))
                if ["=", "!=", "<>", "<", ">", "<=", ">="].contains(&s.as_str()) =>
            {
                s.clone()
            }
            _ => return Err(format!("unexpected token: '{}'", self.describe())),
        };
        self.at += 1;
        Ok(Cond::Compare(
            field,
            if op == "<>" { "!=".into() } else { op },
            self.literal()?,
        ))
    }
}

/// Parses a SOQL query; the error is the `MALFORMED_QUERY` message.
pub(crate) fn parse(q: &str) -> Result<Soql, String> {
    let mut p = Parser {
        tokens: tokenize(q)?,
        at: 0,
    };
    p.expect_word("SELECT")?;
    let mut fields = vec![p.identifier()?];
    while p.eat_symbol(",") {
        fields.push(p.identifier()?);
    }
    p.expect_word("FROM")?;
    let object = p.identifier()?;
    let filter = if p.eat_word("WHERE") {
        Some(p.condition()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.eat_word("ORDER") {
        p.expect_word("BY")?;
        loop {
            let field = p.identifier()?;
            let descending = p.eat_word("DESC");
            if !descending {
                p.eat_word("ASC");
            }
            order.push((field, descending));
            if !p.eat_symbol(",") {
                break;
            }
        }
    }
    let mut limit = None;
    if p.eat_word("LIMIT") {
        match p.literal()? {
            Literal::Number(n) if n >= 0.0 && n.fract() == 0.0 => limit = Some(n as usize),
            _ => return Err("LIMIT must be a non-negative integer".into()),
        }
    }
    if p.at < p.tokens.len() {
        return Err(format!("unexpected token: '{}'", p.describe()));
    }
    Ok(Soql {
        fields,
        object,
        filter,
        order,
        limit,
    })
}

fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Number(n), Literal::Number(l)) => n.as_f64()?.partial_cmp(l),
        (Value::String(s), Literal::Number(l)) => s.parse::<f64>().ok()?.partial_cmp(l),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::String(s), Literal::Text(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::String(s), Literal::Date(l)) => Some(s.get(..10).unwrap_or(s).cmp(l.as_str())),
        (Value::String(s), Literal::DateTime(l)) => Some(s.as_str().cmp(l.as_str())),
        _ => None,
    }
}

fn matches(record: &Map<String, Value>, cond: &Cond) -> bool {
    match cond {
        Cond::And(a, b) => matches(record, a) && matches(record, b),
        Cond::Or(a, b) => matches(record, a) || matches(record, b),
        Cond::In(field, list) => list.contains(record.get(field).unwrap_or(&Value::Null)),
        Cond::Compare(field, op, literal) => {
            let value = record.get(field).unwrap_or(&Value::Null);
            if *literal == Literal::Null {
                return (op == "=") == value.is_null();
            }
            let ordering = compare(value, literal);
            match op.as_str() {
                "=" => ordering == Some(Ordering::Equal),
                "!=" => ordering != Some(Ordering::Equal),
                "<" => ordering == Some(Ordering::Less),
                ">" => ordering == Some(Ordering::Greater),
                "<=" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                ">=" => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                _ => false,
            }
        }
    }
}

fn malformed(message: String) -> ApiError {
    ApiError::bad_request(SfError::bare("MALFORMED_QUERY", message))
}

/// Replaces field names as written with their canonical names, or answers `INVALID_FIELD`.
fn canonical_cond(
    cond: &mut Cond,
    name: &mut impl FnMut(&str) -> Result<String, ApiError>,
) -> Result<(), ApiError> {
    match cond {
        Cond::And(a, b) | Cond::Or(a, b) => {
            canonical_cond(a, name)?;
            canonical_cond(b, name)
        }
        Cond::In(field, _) | Cond::Compare(field, _, _) => {
            *field = name(field)?;
            Ok(())
        }
    }
}

/// `GET /query?q=...`.
pub(crate) async fn query(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    run(&org, &caller, &params, false)
}

/// `GET /queryAll?q=...`: the query over deleted records too, as `queryAll` reads the
/// Recycle Bin.
pub(crate) async fn query_all(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    run(&org, &caller, &params, true)
}

fn run(
    org: &Org,
    caller: &Caller,
    params: &HashMap<String, String>,
    include_deleted: bool,
) -> Result<Json<Value>, ApiError> {
    let q = params
        .get("q")
        .ok_or_else(|| malformed("query parameter q is required".into()))?;
    let mut soql = parse(q).map_err(malformed)?;
    org.with_caller(caller, |s| {
        let sobject = s.schema.object(&soql.object).cloned().ok_or_else(|| {
            let message = format!("sObject type '{}' is not supported.", soql.object);
            ApiError::bad_request(SfError::bare("INVALID_TYPE", message))
        })?;
        let mut name = |written: &str| {
            sobject
                .field(written)
                .filter(|f| !s.is_hidden(&sobject.name, &f.name))
                .map(|f| f.name.clone())
                .ok_or_else(|| ApiError::no_such_column(written, &sobject.name))
        };
        let fields: Vec<String> = soql
            .fields
            .iter()
            .map(|f| name(f))
            .collect::<Result<_, _>>()?;
        if let Some(filter) = &mut soql.filter {
            canonical_cond(filter, &mut name)?;
        }
        let order = soql
            .order
            .iter()
            .map(|(f, desc)| name(f).map(|f| (f, *desc)))
            .collect::<Result<Vec<_>, _>>()?;

        let keep = |r: &&Map<String, Value>| soql.filter.as_ref().is_none_or(|c| matches(r, c));
        let narrowed = soql
            .filter
            .as_ref()
            .and_then(|c| indexed_ids(s, &sobject.name, c));
        let mut rows: Vec<&Map<String, Value>> = match &narrowed {
            Some(ids) => ids
                .iter()
                .filter_map(|id| s.get(&sobject.name, id))
                .filter(keep)
                .collect(),
            None => s.records_of(&sobject.name).filter(keep).collect(),
        };
        if include_deleted {
            rows.extend(s.deleted_of(&sobject.name).filter(keep));
        }
        if !order.is_empty() {
            rows.sort_by(|a, b| {
                order
                    .iter()
                    .map(|(field, descending)| {
                        let ordering = sort_key(a.get(field))
                            .partial_cmp(&sort_key(b.get(field)))
                            .unwrap_or(Ordering::Equal);
                        if *descending {
                            ordering.reverse()
                        } else {
                            ordering
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            });
        }
        if let Some(limit) = soql.limit {
            rows.truncate(limit);
        }
        let records: Vec<Value> = rows
            .iter()
            .map(|r| render(&sobject.name, r, Some(&fields)))
            .collect();
        Ok(Json(page(s, records, 0, None)))
    })
}

/// The Ids a condition on indexed fields narrows a query to, or `None` when
/// the records must be scanned. Every row is still checked against the whole
/// condition.
fn indexed_ids(s: &OrgState, object: &str, cond: &Cond) -> Option<BTreeSet<String>> {
    match cond {
        Cond::In(field, list) if s.is_indexed(object, field) => {
            let texts = list.texts_only()?;
            Some(texts.flat_map(|t| s.candidates(object, field, t)).collect())
        }
        Cond::Compare(field, op, Literal::Text(text))
            if op == "=" && s.is_indexed(object, field) =>
        {
            Some(s.candidates(object, field, text).into_iter().collect())
        }
        Cond::And(a, b) => indexed_ids(s, object, a).or_else(|| indexed_ids(s, object, b)),
        Cond::Or(a, b) => {
            let mut ids = indexed_ids(s, object, a)?;
            ids.extend(indexed_ids(s, object, b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Nulls sort first; numbers and text keep their own order.
fn sort_key(value: Option<&Value>) -> (u8, f64, String) {
    match value {
        None | Some(Value::Null) => (0, 0.0, String::new()),
        Some(Value::Number(n)) => (1, n.as_f64().unwrap_or(0.0), String::new()),
        Some(Value::Bool(b)) => (1, f64::from(u8::from(*b)), String::new()),
        Some(other) => (2, 0.0, other.as_str().unwrap_or_default().to_lowercase()),
    }
}

/// One page of `records` starting at `offset`; keeps the rest behind a locator.
fn page(
    s: &mut super::store::OrgState,
    records: Vec<Value>,
    offset: usize,
    cursor: Option<String>,
) -> Value {
    let total = records.len();
    let end = (offset + PAGE_SIZE).min(total);
    let slice: Vec<Value> = records
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({"totalSize": total, "done": end >= total, "records": slice});
    if end < total {
        let cursor = cursor.unwrap_or_else(|| {
            format!("01g5g{}", &uuid::Uuid::new_v4().simple().to_string()[..13])
        });
        body["nextRecordsUrl"] =
            json!(format!("/services/data/{API_VERSION}/query/{cursor}-{end}"));
        s.cursors.insert(cursor, records);
    }
    body
}

/// `GET /query/{locator}`: the next page of an earlier query.
pub(crate) async fn query_more(
    State(org): State<Arc<Org>>,
    Path(locator): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let invalid = || {
        ApiError::bad_request(SfError::bare(
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        ))
    };
    let (cursor, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    org.with_state(|s| {
        let records = s.cursors.remove(cursor).ok_or_else(invalid)?;
        Ok(Json(page(s, records, offset, Some(cursor.to_owned()))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_query() {
        let q = parse(
            "SELECT Id, Name FROM Account \
             WHERE (Name = 'O\\'Brien' OR Amount >= 10) AND CloseDate < 2024-01-31 \
             AND Id IN ('a','b') ORDER BY Name DESC LIMIT 5",
        );
        let q = q.expect("parses");
        assert_eq!(q.fields, ["Id", "Name"]);
        assert_eq!(q.order, [("Name".into(), true)]);
        assert_eq!(q.limit, Some(5));
        let Some(Cond::And(left, _)) = q.filter else {
            panic!("expected AND")
        };
        let Cond::And(or, date) = *left else {
            panic!("expected AND")
        };
        assert_eq!(
            *date,
            Cond::Compare(
                "CloseDate".into(),
                "<".into(),
                Literal::Date("2024-01-31".into())
            )
        );
        let Cond::Or(name, _) = *or else {
            panic!("expected OR")
        };
        assert_eq!(
            *name,
            Cond::Compare("Name".into(), "=".into(), Literal::Text("O'Brien".into()))
        );
    }

    #[test]
    fn orders_by_several_fields() {
        let q = parse("SELECT Id FROM Account ORDER BY SystemModstamp, Id DESC LIMIT 2");
        let q = q.expect("parses");
        assert_eq!(
            q.order,
            [("SystemModstamp".into(), false), ("Id".into(), true)]
        );
        assert!(parse("SELECT Id FROM Account ORDER BY Name,").is_err());
    }

    #[test]
    fn malformed_queries_are_refused() {
        for q in [
            "SELECT FROM Account",
            "SELECT Id Account",
            "SELECT Id FROM Account WHERE Name = 'x",
            "SELECT Id FROM Account LIMIT x",
            "SELECT Id FROM Account WHERE Name =",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
    }

    #[test]
    fn conditions_evaluate() {
        let record = json!({
            "Name": "Acme", "Amount": 20, "Flag": true, "Empty": null, "CloseDate": "2024-01-01"
        });
        let record = record.as_object().cloned().unwrap_or_default();
        let eval = |q: &str| {
            parse(&format!("SELECT Name FROM A WHERE {q}"))
                .ok()
                .and_then(|p| p.filter)
                .is_some_and(|c| matches(&record, &c))
        };
        assert!(eval("Name = 'acme' AND Amount > 10.5"));
        assert!(eval("Flag = true AND Empty = null AND Name != null"));
        assert!(eval("Name IN ('x', 'Acme') OR Amount < 0"));
        assert!(eval("CloseDate >= 2024-01-01 AND CloseDate < 2024-01-02"));
        assert!(!eval("Amount <= 19"));
    }
}
