//! SQL conditions built up piece by piece, their `$n` placeholders numbered in the order the
//! pieces are added, so fragments can be written with `$?` and combined freely.

use nexuma_sdk::db::Value;

/// Bound parameters, and the AND-ed conditions written so far.
#[derive(Default)]
pub struct Filter {
    conds: Vec<String>,
    pub params: Vec<Value>,
}

impl Filter {
    /// `sql` with each `$?` numbered after the parameters bound before, binding `values` to
    /// them in order (a missing value binds NULL).
    pub fn bind(&mut self, sql: &str, values: Vec<Value>) -> String {
        let mut out = String::new();
        let mut values = values.into_iter();
        for (i, part) in sql.split("$?").enumerate() {
            if i > 0 {
                self.params.push(values.next().unwrap_or(Value::Null));
                out.push_str(&format!("${}", self.params.len()));
            }
            out.push_str(part);
        }
        out
    }

    /// Adds a condition (see [`Filter::bind`]).
    pub fn add(&mut self, sql: &str, values: Vec<Value>) {
        let cond = self.bind(sql, values);
        self.conds.push(cond);
    }

    /// The conditions AND-ed, `TRUE` when there are none.
    pub fn sql(&self) -> String {
        if self.conds.is_empty() {
            "TRUE".into()
        } else {
            self.conds.join(" AND ")
        }
    }

    /// Binds `value` as the next parameter; its placeholder.
    pub fn push(&mut self, value: Value) -> String {
        self.bind("$?", vec![value])
    }
}
