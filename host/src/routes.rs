//! The route table: path patterns with `:name` parameters, built from what the loaded
//! components declare.
//!
//! Where two patterns match one path, the more specific wins: comparing segment by segment, the
//! first place where one has a literal and the other a parameter decides for the literal (so
//! `/me/subscriptions/links/:id` beats `/me/subscriptions/:id/auto-renew` for
//! `/me/subscriptions/links/x`). Two routes of the same shape (equal but for parameter names) can
//! never be told apart and are refused at load.

use thiserror::Error;

use crate::bindings::Route;
use crate::pattern::{parse, segments, Segment};

pub use crate::pattern::{COMPONENTS_API, HOST_ROUTES};

/// A matched path's parameters, percent-decoded: (name, value) in the pattern's order.
pub type Params = Vec<(String, String)>;

/// Whose a route is: named when two routes clash.
pub trait Owner {
    /// The name clash errors show for this target (the component's name).
    fn owner(&self) -> &str;
}

/// One route of the table and what it leads to (the served set's `registry::Versions`; the
/// table's tests put plain names there).
pub struct Entry<T> {
    /// The method, path pattern and auth level as the component declared them.
    pub route: Route,
    /// What serving the route takes (the versions of the component that declared it).
    pub target: T,
    segments: Vec<Segment>,
}

/// The outcome of looking a request up.
pub enum Lookup<'a, T> {
    /// A route matches both the method and the path.
    Found {
        /// The most specific matching route.
        entry: &'a Entry<T>,
        /// The path's parameter values for that route.
        params: Params,
    },
    /// The path exists, but not for this method: the methods it has (sorted, each once).
    MethodNotAllowed(Vec<String>),
    /// No route's pattern matches the path.
    NotFound,
}

/// Two routes of one method and shape: no path could choose between them.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{method} {path} of component {first} overlaps {other_path} of component {second}")]
pub struct Overlap {
    /// The method both routes answer.
    pub method: String,
    /// The pattern of the route being added.
    pub path: String,
    /// Whose `path` is.
    pub first: String,
    /// The pattern of the route already in the table.
    pub other_path: String,
    /// Whose `other_path` is.
    pub second: String,
}

/// Every route of the served set, looked up per request (a linear scan: tens of routes).
pub struct RouteTable<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            entries: Vec::new(),
        }
    }
}

impl<T: Owner> RouteTable<T> {
    /// Adds a route, refused when the table has one of the same method and shape.
    pub fn add(&mut self, route: Route, target: T) -> Result<(), Overlap> {
        let segments = parse(&route.path);
        if let Some(other) = self
            .entries
            .iter()
            .find(|e| e.route.method == route.method && same_shape(&e.segments, &segments))
        {
            return Err(Overlap {
                first: target.owner().to_string(),
                other_path: other.route.path.clone(),
                second: other.target.owner().to_string(),
                method: route.method,
                path: route.path,
            });
        }
        self.entries.push(Entry {
            route,
            target,
            segments,
        });
        Ok(())
    }
}

impl<T> RouteTable<T> {
    /// Every route, in the order added; what the OpenAPI document lists.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<T>> {
        self.entries.iter()
    }

    /// The most specific route for `method` and `path`, or else the methods the path does have.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_, T> {
        let parts = segments(path);
        let mut allowed = Vec::new();
        let mut best: Option<(&Entry<T>, Params)> = None;
        for entry in &self.entries {
            let Some(params) = match_segments(&entry.segments, &parts) else {
                continue;
            };
            if entry.route.method != method {
                allowed.push(entry.route.method.clone());
                // The host answers HEAD wherever GET is served (`server`'s pipeline).
                if entry.route.method == "GET" {
                    allowed.push("HEAD".into());
                }
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(b, _)| more_specific(&entry.segments, &b.segments))
            {
                best = Some((entry, params));
            }
        }
        match best {
            Some((entry, params)) => Lookup::Found { entry, params },
            None if allowed.is_empty() => Lookup::NotFound,
            None => {
                // Two patterns may match the path with the same method.
                allowed.sort_unstable();
                allowed.dedup();
                Lookup::MethodNotAllowed(allowed)
            }
        }
    }
}

/// Equal but for parameter names: no path could ever choose between the two.
fn same_shape(a: &[Segment], b: &[Segment]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        })
}

/// Whether `a` beats `b` for a path both match: at the first segment where one is a literal and
/// the other a parameter, the literal wins.
fn more_specific(a: &[Segment], b: &[Segment]) -> bool {
    a.iter()
        .zip(b)
        .find_map(|pair| match pair {
            (Segment::Literal(_), Segment::Param(_)) => Some(true),
            (Segment::Param(_), Segment::Literal(_)) => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

fn match_segments(pattern: &[Segment], parts: &[&str]) -> Option<Params> {
    if pattern.len() != parts.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in pattern.iter().zip(parts) {
        match segment {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => {
                let value = percent_encoding::percent_decode_str(part)
                    .decode_utf8()
                    .ok()?;
                params.push((name.clone(), value.into_owned()));
            }
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routes_of_the_same_shape_clash() {
        assert!(same_shape(&parse("/a/:x"), &parse("/a/:y")));
        assert!(!same_shape(
            &parse("/admin/users/:id"),
            &parse("/admin/users/stats")
        ));
        assert!(!same_shape(&parse("/sub/:uuid"), &parse("/sub/:uuid/info")));
        assert!(!same_shape(&parse("/a/b"), &parse("/a/c")));
    }

    #[test]
    fn the_first_literal_wins() {
        let links = parse("/me/subscriptions/links/:id");
        let renew = parse("/me/subscriptions/:id/auto-renew");
        assert!(more_specific(&links, &renew));
        assert!(!more_specific(&renew, &links));
        assert!(more_specific(
            &parse("/admin/users/stats"),
            &parse("/admin/users/:id")
        ));
    }

    #[test]
    fn params_are_percent_decoded() {
        let params = match_segments(&parse("/u/:id"), &segments("/u/a%20b")).expect("match");
        assert_eq!(params, vec![("id".to_string(), "a b".to_string())]);
        assert!(match_segments(&parse("/u/:id"), &segments("/u/a/b")).is_none());
    }

    // The table as requests meet it: routes named by the component they belong to.

    impl Owner for &'static str {
        fn owner(&self) -> &str {
            self
        }
    }

    fn table(routes: &[(&str, &str)]) -> RouteTable<&'static str> {
        let mut table = RouteTable::default();
        for (method, path) in routes {
            table
                .add(crate::pattern::route(method, path), "c")
                .expect("no clash");
        }
        table
    }

    /// The pattern `path` reaches with `method`, and its parameters.
    fn found(table: &RouteTable<&'static str>, method: &str, path: &str) -> (String, Vec<String>) {
        match table.lookup(method, path) {
            Lookup::Found { entry, params } => (
                entry.route.path.clone(),
                params
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            Lookup::MethodNotAllowed(allowed) => panic!("{method} {path}: 405 {allowed:?}"),
            Lookup::NotFound => panic!("{method} {path}: 404"),
        }
    }

    fn allowed(table: &RouteTable<&'static str>, method: &str, path: &str) -> Vec<String> {
        match table.lookup(method, path) {
            Lookup::MethodNotAllowed(allowed) => allowed,
            _ => panic!("{method} {path}: not a 405"),
        }
    }

    fn not_found(table: &RouteTable<&'static str>, method: &str, path: &str) -> bool {
        matches!(table.lookup(method, path), Lookup::NotFound)
    }

    #[test]
    fn an_exact_segment_beats_a_parameter_in_either_order() {
        let stats = ("GET", "/admin/users/stats");
        let user = ("GET", "/admin/users/:id");
        let links = ("GET", "/me/subscriptions/links/:id");
        let renew = ("GET", "/me/subscriptions/:id/auto-renew");
        for routes in [[stats, user, links, renew], [user, stats, renew, links]] {
            let table = table(&routes);
            assert_eq!(found(&table, "GET", "/admin/users/stats").0, stats.1);
            assert_eq!(
                found(&table, "GET", "/admin/users/42"),
                (user.1.to_string(), vec!["id=42".to_string()])
            );
            // Both match; the first place they differ is a literal in `links`.
            assert_eq!(
                found(&table, "GET", "/me/subscriptions/links/auto-renew"),
                (links.1.to_string(), vec!["id=auto-renew".to_string()])
            );
            assert_eq!(
                found(&table, "GET", "/me/subscriptions/7/auto-renew").1,
                vec!["id=7".to_string()]
            );
        }
    }

    #[test]
    fn another_method_is_a_405_listing_the_methods_once_each() {
        let table = table(&[
            ("POST", "/a"),
            ("GET", "/a"),
            ("DELETE", "/a/:id"),
            ("GET", "/a/b"),
            ("GET", "/a/:id"),
            ("PUT", "/a/:id"),
        ]);
        assert_eq!(allowed(&table, "PATCH", "/a"), ["GET", "HEAD", "POST"]);
        // Two patterns match `/a/b` for GET: still GET and HEAD once.
        assert_eq!(
            allowed(&table, "POST", "/a/b"),
            ["DELETE", "GET", "HEAD", "PUT"]
        );
    }

    #[test]
    fn empty_segments_and_a_trailing_slash_are_the_same_path() {
        let table = table(&[("GET", "/a/b"), ("GET", "/u/:id")]);
        for path in ["/a/b", "/a/b/", "//a//b", "/a//b//"] {
            assert_eq!(found(&table, "GET", path).0, "/a/b", "{path}");
        }
        assert_eq!(found(&table, "GET", "/u/x/").1, ["id=x"]);
        for path in ["/a", "/a/b/c", "/", "/u", "/u/x/y"] {
            assert!(not_found(&table, "GET", path), "{path}");
        }
    }

    #[test]
    fn parameters_are_decoded_after_the_path_is_split() {
        let table = table(&[("GET", "/u/:id")]);
        assert_eq!(found(&table, "GET", "/u/a%20b").1, ["id=a b"]);
        // An encoded slash stays inside its segment.
        assert_eq!(found(&table, "GET", "/u/a%2Fb").1, ["id=a/b"]);
        assert_eq!(found(&table, "GET", "/u/%00").1, ["id=\0"]);
        // Not UTF-8 once decoded: no route takes it.
        assert!(not_found(&table, "GET", "/u/%FF"));
    }

    #[test]
    fn routes_of_one_shape_are_refused_naming_both() {
        let mut table = RouteTable::default();
        table
            .add(crate::pattern::route("GET", "/a/:x"), "billing")
            .expect("first");
        table
            .add(crate::pattern::route("POST", "/a/:y"), "auth")
            .expect("another method");
        table
            .add(crate::pattern::route("GET", "/a/b"), "auth")
            .expect("a literal is another shape");
        for (path, owner) in [("/a/:y", "auth"), ("/a/:x", "billing")] {
            let refusal = table
                .add(crate::pattern::route("GET", path), owner)
                .expect_err("same shape");
            assert_eq!(
                refusal.to_string(),
                format!("GET {path} of component {owner} overlaps /a/:x of component billing")
            );
        }
    }
}
