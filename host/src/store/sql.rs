//! Statements assembled at run time (multi-row inserts, `IN` lists, optional
//! filters) with numbered placeholders that both backends read.
//!
//! sqlx's own `QueryBuilder` asks the database's argument type how to write
//! a placeholder, and the `Any` driver's answer is `?`, which PostgreSQL
//! refuses. [`Sql`] writes `$1, $2, ...` instead: PostgreSQL's form, which
//! SQLite reads too.

use std::fmt::Write;

use anyhow::Context;
use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;
use sqlx::{Arguments, AssertSqlSafe, Encode, Type};

/// A statement and its bound values, built up piece by piece.
pub(crate) struct Sql {
    text: String,
    arguments: AnyArguments,
    /// The first value that could not be bound, reported by [`Sql::build`]
    /// so that building reads as a chain.
    error: Option<sqlx::error::BoxDynError>,
}

impl Sql {
    /// A statement starting with `text`.
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            arguments: AnyArguments::default(),
            error: None,
        }
    }

    /// Appends SQL text as it is.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub(crate) fn push_bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        if let Err(e) = self.arguments.add(value) {
            self.error.get_or_insert(e);
        }
        // Writing into a String cannot fail.
        let _ = write!(self.text, "${}", self.arguments.len());
        self
    }

    /// Appends `VALUES (...), (...)`, one parenthesised row per item, the
    /// row's values bound by `bind`.
    pub(crate) fn push_values<I, F>(&mut self, items: I, mut bind: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(&mut Row<'_>, I::Item),
    {
        self.text.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.text.push_str(if i == 0 { "(" } else { ", (" });
            bind(
                &mut Row {
                    sql: self,
                    first: true,
                },
                item,
            );
            self.text.push(')');
        }
        self
    }

    /// Appends `(v1, v2, ...)`, each value bound: the right side of `IN`.
    pub(crate) fn push_list<'t, I, T>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.text.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.push_bind(value);
        }
        self.text.push(')');
        self
    }

    /// The statement, ready to run; fails if a value could not be bound.
    pub(crate) fn build(self) -> anyhow::Result<Query<'static, Any, AnyArguments>> {
        if let Some(e) = self.error {
            return Err(anyhow::anyhow!(e)).context("binding a statement's values");
        }
        Ok(sqlx::query_with(AssertSqlSafe(self.text), self.arguments))
    }
}

/// One row of [`Sql::push_values`].
pub(crate) struct Row<'a> {
    sql: &'a mut Sql,
    first: bool,
}

impl Row<'_> {
    /// Binds the row's next value.
    pub(crate) fn push_bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        if !self.first {
            self.sql.text.push_str(", ");
        }
        self.first = false;
        self.sql.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_bound() {
        let mut sql = Sql::new("INSERT INTO t (a, b) ");
        sql.push_values([(1_i64, "x"), (2, "y")], |row, (a, b)| {
            row.push_bind(a).push_bind(b);
        });
        sql.push(" WHERE c IN ").push_list(["p", "q"]);
        assert_eq!(
            sql.text,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) WHERE c IN ($5, $6)"
        );
        assert!(sql.build().is_ok());
    }
}
