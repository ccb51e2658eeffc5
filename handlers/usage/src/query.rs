//! The routes' query parameters as types, for the OpenAPI document (`Route::query_type`). The
//! handlers read them with [`crate::params`] and their own checks; every bound, default and
//! enum here is the constant those use, and the tests below hold the two together.
//! A blank parameter counts as absent (`params::text`), so each enum lists `""` too.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::calendar::{Granularity, Period, MAX_DAYS};
use crate::cursor;
use crate::listing::{self, SORTS};
use crate::params::{DEFAULT_DAYS, ID_MAX};
use crate::users::{TOP_DEFAULT, TOP_MAX};

/// A type that stands for a parameter's value in the query types below: `$schema` is its JSON
/// Schema, inline where it is used.
macro_rules! value_schema {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

value_schema! {
    /// A `from`/`to` value as [`crate::calendar::bound`] reads it: an RFC 3339 time or a date
    /// (blank: as absent).
    Bound => json_schema!({
        "type": "string",
        "anyOf": [{ "format": "date-time" }, { "format": "date" }, { "maxLength": 0 }],
    })
}

value_schema! {
    /// An IANA zone name as [`crate::calendar::zone`] reads it: one of chrono-tz's, or blank.
    /// `x-enum-varnames` names each value for client generators, which otherwise make names of
    /// the values themselves and so clash on `Etc/GMT+0`, `Etc/GMT-0` and `Etc/GMT0`.
    Zone => {
        let mut names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        names.push("");
        let var_names: Vec<String> = names.iter().map(|name| zone_var_name(name)).collect();
        json_schema!({
            "type": "string",
            "enum": names,
            "x-enum-varnames": var_names,
            "default": chrono_tz::Tz::UTC.name(),
        })
    }
}

/// A zone's name as an identifier: `Etc/GMT+0` → `ETC_GMT_PLUS_0`, `Etc/GMT-0` →
/// `ETC_GMT_MINUS_0`, `America/Port-au-Prince` → `AMERICA_PORT_AU_PRINCE`; blank → `BLANK`.
fn zone_var_name(name: &str) -> String {
    if name.is_empty() {
        return "BLANK".into();
    }
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let word = match c {
            '+' => "_PLUS_",
            '-' if chars.peek().is_some_and(char::is_ascii_digit) => "_MINUS_",
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_uppercase());
                continue;
            }
            _ => "_",
        };
        for w in word.chars() {
            if !(w == '_' && (out.is_empty() || out.ends_with('_'))) {
                out.push(w);
            }
        }
    }
    out.trim_end_matches('_').to_string()
}

value_schema! {
    /// An id filter as [`crate::params::id`] reads it (it counts bytes, a schema characters: the
    /// same for the ASCII ids the API gives).
    Id => json_schema!({
        "type": "string",
        "maxLength": ID_MAX,
        "pattern": r"^[^\u0000-\u001F\u007F-\u009F]*$",
    })
}

/// `tz`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ZoneParam {
    /// IANA time zone whose local days and hours the buckets are, e.g. Europe/Berlin.
    tz: Option<Zone>,
}

/// `days`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct DaysParam {
    /// Calendar days ending today.
    #[schemars(range(min = 1, max = MAX_DAYS), extend("default" = DEFAULT_DAYS))]
    days: Option<i64>,
}

/// `subscriptionId` / `linkId` of a user's series ([`crate::traffic::scope`]).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ScopeParams {
    /// Only this subscription's links (the caller's own).
    subscription_id: Option<Id>,
    /// Only this link (the caller's own); wins over subscriptionId.
    link_id: Option<Id>,
}

/// `granularity`, hourly when absent.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct GranularityParam {
    /// Rows per UTC hour or per UTC day.
    #[schemars(extend(
        "enum" = [&Granularity::NAMES[..], &[""]].concat(),
        "default" = Granularity::Hour.name()
    ))]
    granularity: Option<String>,
}

/// `GET /me/traffic`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Traffic {
    /// The calendar period containing today (weeks start on Monday); month when neither it nor
    /// from is given; not with from/to.
    #[schemars(extend("enum" = [&Period::NAMES[..], &[""]].concat()))]
    period: Option<String>,
    /// Start: an RFC 3339 time (2026-03-29T10:00:00Z) or a local date (2026-03-29).
    from: Option<Bound>,
    /// End, only with from: exclusive for a time, included for a date; default now.
    to: Option<Bound>,
    #[serde(flatten)]
    zone: ZoneParam,
    #[serde(flatten)]
    scope: ScopeParams,
}

/// `GET /me/traffic/daily` and `/me/traffic/hourly-dist`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Days {
    #[serde(flatten)]
    days: DaysParam,
    #[serde(flatten)]
    zone: ZoneParam,
    #[serde(flatten)]
    scope: ScopeParams,
}

/// `GET /admin/usage`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AdminUsage {
    /// Only this user's rows.
    user_id: Option<Id>,
    /// Only rows of this subscription's links.
    subscription_id: Option<Id>,
    /// Only this link's rows.
    link_id: Option<Id>,
    /// Only this node's rows.
    node_id: Option<Id>,
    /// Start, UTC: an RFC 3339 time or a date; default 24 hours ago.
    from: Option<Bound>,
    /// End, UTC, only with from: exclusive for a time, included for a date; default now.
    to: Option<Bound>,
    #[serde(flatten)]
    granularity: GranularityParam,
    #[schemars(extend("enum" = [&SORTS[..], &[""]].concat(), "default" = SORTS[0]))]
    sort: Option<String>,
    /// nextCursor of the previous page, for the same sort and granularity: the rows after that
    /// page's last one (rows added meanwhile never move a row into a page already read).
    #[schemars(length(max = cursor::MAX_LEN), regex(pattern = r"^[A-Za-z0-9_-]*$"))]
    after: Option<String>,
    /// The same as `after` (this route's first name for it); not with `after`.
    #[schemars(length(max = cursor::MAX_LEN), regex(pattern = r"^[A-Za-z0-9_-]*$"))]
    cursor: Option<String>,
    /// Rows per page.
    #[schemars(
        range(min = 1, max = listing::MAX_LIMIT),
        extend("default" = listing::DEFAULT_LIMIT)
    )]
    limit: Option<i64>,
}

/// `GET /admin/users/stats`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct UsersStats {
    #[serde(flatten)]
    days: DaysParam,
    #[serde(flatten)]
    zone: ZoneParam,
    /// How many top users by traffic.
    #[schemars(range(min = 1, max = TOP_MAX), extend("default" = TOP_DEFAULT))]
    limit: Option<i64>,
}

/// `GET /admin/users/:id/stats`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct UserStats {
    #[serde(flatten)]
    zone: ZoneParam,
}

/// `GET /admin/nodes/:id/outbound-usage`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Outbound {
    /// Start, UTC: an RFC 3339 time or a date; default 24 hours (daily: 30 days) ago.
    from: Option<Bound>,
    /// End, UTC, only with from: exclusive for a time, included for a date; default now.
    to: Option<Bound>,
    #[serde(flatten)]
    granularity: GranularityParam,
    /// Only this outbound tag.
    tag: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{calendar, params};
    use nexuma_sdk::{query_schema_of, Request};
    use serde_json::{json, Value};

    fn request(query: &[(&str, &str)]) -> Request {
        Request::with_query(query)
    }

    /// An enum's values but the blank one, which it must end with.
    fn listed(list: &Value) -> Vec<&str> {
        let mut values: Vec<&str> = list
            .as_array()
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(values.pop(), Some(""), "blank is listed: {list}");
        values
    }

    /// Blank counts as absent, which is why every enum lists it.
    #[test]
    fn a_blank_parameter_is_absent() {
        for name in [
            "period",
            "granularity",
            "sort",
            "cursor",
            "after",
            "from",
            "linkId",
        ] {
            assert_eq!(params::text(&request(&[(name, " ")]), name), None);
        }
        assert_eq!(calendar::zone(Some("")).ok(), calendar::zone(None).ok());
        for name in ["cursor", "after"] {
            let cursor = &query_schema_of::<AdminUsage>()["properties"][name];
            assert!(cursor.get("minLength").is_none());
        }
    }

    /// Every route's parameters: none required, none typed null, each described.
    #[test]
    fn every_parameter_is_optional_and_described() {
        for query in [
            query_schema_of::<Traffic>(),
            query_schema_of::<Days>(),
            query_schema_of::<AdminUsage>(),
            query_schema_of::<UsersStats>(),
            query_schema_of::<UserStats>(),
            query_schema_of::<Outbound>(),
        ] {
            assert!(
                query["required"].as_array().is_none_or(Vec::is_empty),
                "{query}"
            );
            for (name, param) in query["properties"].as_object().expect("properties") {
                assert!(param["type"].is_string(), "{name}: {param}");
                assert!(!param["enum"]
                    .as_array()
                    .is_some_and(|e| e.contains(&Value::Null)));
                assert!(param["description"].is_string() || name == "sort", "{name}");
            }
        }
        let days = query_schema_of::<Days>();
        let names: Vec<&String> = days["properties"]
            .as_object()
            .expect("props")
            .keys()
            .collect();
        assert_eq!(names, ["days", "linkId", "subscriptionId", "tz"]);
    }

    #[test]
    fn tz_lists_exactly_the_zones_the_parser_knows() {
        let tz = &query_schema_of::<UserStats>()["properties"]["tz"];
        let names = listed(&tz["enum"]);
        assert_eq!(names.len(), chrono_tz::TZ_VARIANTS.len());
        for name in &names {
            assert!(calendar::zone(Some(name)).is_ok(), "{name}");
        }
        assert!(names.contains(&"Asia/Kolkata") && names.contains(&"UTC"));
        // One distinct identifier per value, the blank one included.
        let var_names: Vec<&str> = tz["x-enum-varnames"]
            .as_array()
            .expect("x-enum-varnames")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(var_names.len(), names.len() + 1);
        let distinct: std::collections::HashSet<&&str> = var_names.iter().collect();
        assert_eq!(distinct.len(), var_names.len(), "a name twice");
        for name in &var_names {
            assert!(
                name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(
            [
                zone_var_name("Etc/GMT+0"),
                zone_var_name("Etc/GMT-0"),
                zone_var_name("Etc/GMT0")
            ],
            ["ETC_GMT_PLUS_0", "ETC_GMT_MINUS_0", "ETC_GMT0"]
        );
        assert_eq!(
            zone_var_name("America/Port-au-Prince"),
            "AMERICA_PORT_AU_PRINCE"
        );
        let default = tz["default"].as_str().expect("default");
        assert_eq!(
            calendar::zone(Some(default)).ok(),
            calendar::zone(None).ok()
        );
    }

    #[test]
    fn days_and_limits_are_the_handlers_bounds() {
        let days = &query_schema_of::<Days>()["properties"]["days"];
        assert_eq!(
            (&days["minimum"], &days["maximum"]),
            (&json!(1), &json!(MAX_DAYS))
        );
        assert_eq!(days["default"], json!(DEFAULT_DAYS));
        assert_eq!(params::days(&request(&[])).ok(), Some(DEFAULT_DAYS));
        let most = MAX_DAYS.to_string();
        assert!(params::days(&request(&[("days", &most)])).is_ok());
        let past = (MAX_DAYS + 1).to_string();
        assert!(params::days(&request(&[("days", &past)])).is_err());

        let usage = query_schema_of::<AdminUsage>();
        let limit = &usage["properties"]["limit"];
        assert_eq!(limit["maximum"], json!(listing::MAX_LIMIT));
        assert_eq!(limit["default"], json!(listing::DEFAULT_LIMIT));
        for name in ["cursor", "after"] {
            assert_eq!(
                usage["properties"][name]["maxLength"],
                json!(cursor::MAX_LEN)
            );
        }
        let top = &query_schema_of::<UsersStats>()["properties"]["limit"];
        assert_eq!(
            (&top["maximum"], &top["default"]),
            (&json!(TOP_MAX), &json!(TOP_DEFAULT))
        );
    }

    #[test]
    fn enums_are_what_the_parsers_take() {
        let traffic = query_schema_of::<Traffic>();
        let periods = listed(&traffic["properties"]["period"]["enum"]);
        for period in &periods {
            assert!(Period::parse(period).is_ok(), "{period}");
        }
        assert_eq!(periods, Period::NAMES);

        let usage = query_schema_of::<AdminUsage>();
        let granularity = &usage["properties"]["granularity"];
        assert_eq!(listed(&granularity["enum"]), Granularity::NAMES);
        for name in Granularity::NAMES {
            let read = params::granularity(&request(&[("granularity", name)]), Granularity::Hour);
            assert_eq!(read.map(Granularity::name).ok(), Some(name));
        }
        assert!(
            params::granularity(&request(&[("granularity", "week")]), Granularity::Hour).is_err()
        );
        assert_eq!(granularity["default"], Granularity::Hour.name());

        let sort = &usage["properties"]["sort"];
        assert_eq!(listed(&sort["enum"]), SORTS);
        let orders: Vec<_> = SORTS
            .iter()
            .map(|s| listing::descending(&request(&[("sort", s)])).ok())
            .collect();
        assert_eq!(orders, [Some(false), Some(true)]);
        let default = sort["default"].as_str().expect("default");
        let absent = listing::descending(&request(&[])).ok();
        assert_eq!(
            listing::descending(&request(&[("sort", default)])).ok(),
            absent
        );
    }

    #[test]
    fn bounds_and_ids_are_what_the_parsers_take() {
        let outbound = query_schema_of::<Outbound>();
        let from = &outbound["properties"]["from"];
        assert_eq!(
            from["anyOf"],
            json!([{ "format": "date-time" }, { "format": "date" }, { "maxLength": 0 }])
        );
        for raw in [
            "2026-03-29T10:00:00Z",
            "2026-03-29T10:00:00.5+05:30",
            "2026-03-29",
        ] {
            assert!(calendar::bound("from", raw).is_ok(), "{raw}");
        }
        assert!(calendar::bound("from", "29.03.2026").is_err());

        let tag = &outbound["properties"]["tag"];
        assert_eq!(tag["maxLength"], json!(ID_MAX));
        let longest = "t".repeat(ID_MAX);
        assert!(params::id(&request(&[("tag", &longest)]), "tag").is_ok());
        let past = "t".repeat(ID_MAX + 1);
        assert!(params::id(&request(&[("tag", &past)]), "tag").is_err());
        assert!(params::id(&request(&[("tag", "a\u{7}b")]), "tag").is_err());
    }
}
