//! Keyset paging of list routes that grow large: the opaque `after` cursor a page answers as
//! `nextCursor`, the query that carries it (`limit`, a bounded `offset` or `after`), and the SQL
//! that continues strictly after it.
//!
//! A cursor is the sort key of a page's last row — a tuple the route picks, e.g.
//! `(created_at, id)` — written as URL-safe base64 (no padding) of its JSON array. Clients treat
//! it as opaque; a route takes back only what decodes into its own key type (else 400 naming the
//! parameter), so a tampered or foreign cursor never reaches SQL as anything but bound values.
//! A page after a cursor is a range of an index on the order's columns, however deep it is:
//!
//! ```no_run
//! use nexuma_sdk::cursor::{self, Order};
//! use nexuma_sdk::{db, ApiError, Request};
//!
//! const ORDER: Order = Order::descending(&["created_at", "id"]);
//!
//! fn after(req: &Request) -> Result<Vec<String>, ApiError> {
//!     let paging = req.keyset_paging()?;
//!     let at: Option<cursor::Position<(i64, String)>> = paging.position()?;
//!     let mut params = Vec::new();
//!     let filter = match at.map(|p| p.key) {
//!         Some((at, id)) => format!("WHERE {}", ORDER.after(vec![at.into(), id.into()], &mut params)),
//!         None => String::new(),
//!     };
//!     let sql = format!("SELECT id FROM audit_log {filter} ORDER BY {} LIMIT 10", ORDER.by());
//!     db::query(&sql, &params)?.iter().map(|row| row.string("id")).collect()
//! }
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::db::Value;
use crate::{ApiError, Request, DEFAULT_LIMIT, MAX_LIMIT};

/// The deepest `offset` a keyset-paged list takes: past it, an offset page reads (and throws
/// away) every row before it, so deeper pages are read with `after`.
pub const MAX_OFFSET: i64 = 10_000;

/// Longer than any cursor a route gives (keys are a time and a few ids of at most a few hundred
/// bytes); a longer one is refused before it is decoded.
pub const MAX_LEN: usize = 2000;

/// The cursor of a page whose last row has the sort key `key`.
pub fn encode<K: Serialize>(key: &K) -> String {
    // A tuple of integers, booleans and strings always serializes.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// The sort key a client's cursor carries: it must be one this route gave (base64 of a JSON
/// `K`, at most [`MAX_LEN`] bytes), else 400 naming `field`.
pub fn decode<K: DeserializeOwned>(field: &str, raw: &str) -> Result<K, ApiError> {
    let bad = || ApiError::validation(field, "is not a cursor this route gave");
    if raw.len() > MAX_LEN {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// Where a walk through a keyset-paged list stands: how many items it has given (the next
/// page's `offset`) and the sort key of the last one. A page's `nextCursor` carries both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position<K> {
    /// Items the walk gave before the page this position starts.
    pub offset: i64,
    /// The sort key of the last item given.
    pub key: K,
}

impl<K: Serialize> Position<K> {
    /// The position after a page that started at `offset` and gave `count` items, the last
    /// with sort key `key`.
    pub fn after_page(offset: i64, count: usize, key: K) -> Position<K> {
        Position {
            offset: offset + i64::try_from(count).unwrap_or(i64::MAX - offset),
            key,
        }
    }

    /// The `nextCursor` that continues from here.
    pub fn encode(&self) -> String {
        encode(&(self.offset, &self.key))
    }
}

/// Cuts `rows`, read with one row past `limit`, to the page, and gives the next page's cursor
/// when that extra row was there: the position after the page, keyed by its last row's `key`.
pub fn finish_page<T, K: Serialize>(
    rows: &mut Vec<T>,
    limit: i64,
    offset: i64,
    key: impl Fn(&T) -> K,
) -> Option<String> {
    let page_len = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > page_len;
    rows.truncate(page_len);
    rows.last()
        .filter(|_| more)
        .map(|last| Position::after_page(offset, rows.len(), key(last)).encode())
}

/// A list's order by key columns that are unique together (the last one an id), all ascending
/// or all descending, so "after the cursor" is one row comparison: a range of an index on the
/// same columns (and its equality-filtered columns in front) on PostgreSQL and SQLite alike.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    columns: &'static [&'static str],
    descending: bool,
}

impl Order {
    /// Smallest key first.
    pub const fn ascending(columns: &'static [&'static str]) -> Order {
        Order {
            columns,
            descending: false,
        }
    }

    /// Largest key first.
    pub const fn descending(columns: &'static [&'static str]) -> Order {
        Order {
            columns,
            descending: true,
        }
    }

    /// The `ORDER BY` list: every column in the order's direction.
    pub fn by(&self) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        self.columns
            .iter()
            .map(|c| format!("{c} {dir}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rows strictly after `key` in this order, binding its values after `params`.
    pub fn after(&self, key: Vec<Value>, params: &mut Vec<Value>) -> String {
        self.compare(if self.descending { "<" } else { ">" }, key, params)
    }

    /// How many rows `source` (a table, aliased if the conditions name an alias) holds under
    /// `conditions`: the page's `total`. A page after a cursor takes its `offset` from the
    /// cursor ([`Position`]) rather than counting the rows before it, so a deep page costs what
    /// the first one does.
    pub fn total(
        &self,
        source: &str,
        conditions: &[String],
        params: &[Value],
    ) -> Result<i64, ApiError> {
        let rows = crate::db::query(
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM {source} {}",
                where_all(conditions)
            ),
            params,
        )?;
        Ok(rows
            .first()
            .map(|r| r.i64("total"))
            .transpose()?
            .unwrap_or(0))
    }

    fn compare(&self, op: &str, key: Vec<Value>, params: &mut Vec<Value>) -> String {
        let mut marks = Vec::with_capacity(key.len());
        for value in key {
            params.push(value);
            marks.push(format!("${}", params.len()));
        }
        format!("({}) {op} ({})", self.columns.join(", "), marks.join(", "))
    }
}

/// `WHERE` and the conditions joined by `AND`, or nothing.
pub fn where_all(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// The query of a list route paged by keyset: `limit`, and either `offset` (at most
/// [`MAX_OFFSET`]) or `after`. Read it with [`Request::keyset_paging`]; `#[serde(flatten)]` it
/// into a route's own query type so the document declares the three.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysetPaging {
    /// Items per page.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: i64,
    /// Items to skip from the start of the list, at most 10000; page deeper with `after`.
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_OFFSET))]
    pub offset: i64,
    /// A page's `nextCursor`: the items after that page's last one, in the list's order (so
    /// items added meanwhile never move an item into a page already read). Not with an `offset`
    /// above 0; the answer's `offset` then counts the items the walk gave before the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(max = MAX_LEN), regex(pattern = r"^[A-Za-z0-9_-]*$"))]
    pub after: Option<String>,
}

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}

impl KeysetPaging {
    /// The position `after` carries, if given (400 naming `after` when this route did not give
    /// it).
    pub fn position<K: DeserializeOwned>(&self) -> Result<Option<Position<K>>, ApiError> {
        let Some(raw) = self.after.as_deref() else {
            return Ok(None);
        };
        let (offset, key): (i64, K) = decode("after", raw)?;
        if offset < 0 {
            return Err(ApiError::validation(
                "after",
                "is not a cursor this route gave",
            ));
        }
        Ok(Some(Position { offset, key }))
    }

    /// The page's `offset`: the cursor's, or the one asked for.
    pub fn offset_at<K>(&self, position: Option<&Position<K>>) -> i64 {
        position.map_or(self.offset, |p| p.offset)
    }
}

impl Request {
    /// `limit` (1..=`MAX_LIMIT`), `offset` (0..=[`MAX_OFFSET`], 0 with `after`) and `after` of a
    /// keyset-paged list; each refusal is a 400 naming the parameter.
    pub fn keyset_paging(&self) -> Result<KeysetPaging, ApiError> {
        let limit = self.int_query("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
        let offset = self.int_query("offset", 0, 0, i64::MAX)?;
        if offset > MAX_OFFSET {
            return Err(ApiError::validation(
                "offset",
                format!(
                    "must be at most {MAX_OFFSET}; read deeper pages with `after` (each page's \
                     nextCursor)"
                ),
            ));
        }
        let after = self
            .query("after")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        if after.is_some() && offset > 0 {
            return Err(ApiError::validation(
                "offset",
                "must be 0 or left out with `after`",
            ));
        }
        Ok(KeysetPaging {
            limit,
            offset,
            after,
        })
    }
}

/// A page of a keyset-paged list: the paging convention's fields plus the next page's cursor.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorPage<'a, T> {
    /// `items`, `total`, `limit`, `offset` (with `after`: the items the walk gave before the
    /// page).
    #[serde(flatten)]
    pub page: crate::response::Page<'a, T>,
    /// The next page's `after`; null on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_key_tuple() {
        let key = (1_767_225_600_000_i64, "5f0c\"9".to_string());
        let raw = encode(&key);
        assert!(raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert_eq!(decode::<(i64, String)>("after", &raw).ok(), Some(key));
        let wide = (true, false, -3_i64, "u".to_string(), "n".to_string());
        assert_eq!(decode("cursor", &encode(&wide)).ok(), Some(wide));
    }

    #[test]
    fn refuses_what_the_route_did_not_give() {
        let good = encode(&(1_i64, "u"));
        let tampered = format!("{}x", &good[..good.len() - 1]);
        let other_shape = encode(&(1_i64, 2_i64, "u"));
        let too_long = "A".repeat(MAX_LEN + 1);
        // `{}`: JSON, but not a cursor.
        for raw in ["zz", "a", "e30", "é1", &tampered, &other_shape, &too_long] {
            let err = decode::<(i64, String)>("after", raw).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some("after")),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_position_carries_the_walk_s_offset() {
        let next = Position::after_page(40, 20, (7_i64, "u".to_string()));
        assert_eq!(next.offset, 60);
        let paging = Request::with_query(&[("after", &next.encode())])
            .keyset_paging()
            .expect("paging");
        let back = paging.position::<(i64, String)>().expect("decodes");
        assert_eq!(back.as_ref(), Some(&next));
        assert_eq!(paging.offset_at(back.as_ref()), 60);
        let negative = encode(&(-1_i64, (7_i64, "u")));
        let err = Request::with_query(&[("after", &negative)])
            .keyset_paging()
            .and_then(|p| p.position::<(i64, String)>())
            .err()
            .expect("refused");
        assert_eq!(err.field.as_deref(), Some("after"));
    }

    #[test]
    fn an_order_compares_its_whole_key() {
        let order = Order::descending(&["created_at", "id"]);
        let mut params: Vec<Value> = vec!["active".into()];
        assert_eq!(order.by(), "created_at DESC, id DESC");
        assert_eq!(
            order.after(vec![5_i64.into(), "u".into()], &mut params),
            "(created_at, id) < ($2, $3)"
        );
        assert_eq!(params.len(), 3);
        let up = Order::ascending(&["a", "b"]);
        assert_eq!(up.by(), "a ASC, b ASC");
        assert_eq!(up.after(vec![1_i64.into()], &mut params), "(a, b) > ($4)");
        assert_eq!(where_all(&[]), "");
        assert_eq!(where_all(&["a".into(), "b".into()]), "WHERE a AND b");
    }

    #[test]
    fn paging_bounds_the_offset_and_keeps_it_apart_from_after() {
        let read = |q: &[(&str, &str)]| Request::with_query(q).keyset_paging();
        let p = read(&[("limit", "3"), ("after", " abc ")]).expect("after");
        assert_eq!((p.limit, p.offset, p.after.as_deref()), (3, 0, Some("abc")));
        let p = read(&[("offset", "10000"), ("after", "")]).expect("deepest offset");
        assert_eq!((p.offset, p.after), (MAX_OFFSET, None));
        for q in [
            &[("offset", "10001")][..],
            &[("offset", "1"), ("after", "abc")][..],
            &[("offset", "-1")][..],
        ] {
            let err = read(q).err().expect("refused");
            assert_eq!((err.status, err.field.as_deref()), (400, Some("offset")));
        }
        let err = read(&[("offset", "20000")]).err().expect("refused");
        assert!(err.message.contains("after"), "{}", err.message);
        let err = read(&[("after", "zz")])
            .and_then(|p| p.position::<(i64, String)>())
            .err()
            .expect("refused");
        assert_eq!(err.field.as_deref(), Some("after"));
    }

    #[test]
    fn the_query_and_page_declare_after_and_next_cursor() {
        let query = crate::query_schema_of::<KeysetPaging>();
        let param = |name: &str| query["properties"][name].clone();
        assert_eq!(param("offset")["maximum"], serde_json::json!(MAX_OFFSET));
        assert_eq!(param("after")["type"], "string");
        assert_eq!(param("after")["maxLength"], serde_json::json!(MAX_LEN));
        assert_eq!(param("after")["pattern"], r"^[A-Za-z0-9_-]*$");
        let page = crate::answer_schema_of::<CursorPage<'static, String>>();
        let required = page["required"].as_array().expect("required");
        for field in ["items", "total", "limit", "offset", "nextCursor"] {
            assert!(required.contains(&serde_json::json!(field)), "{page}");
        }
        assert_eq!(
            page["properties"]["nextCursor"]["type"],
            serde_json::json!(["string", "null"])
        );
    }
}
