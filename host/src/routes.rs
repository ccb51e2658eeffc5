//! The route table: path patterns with `:name` parameters, built from what the loaded
//! components declare.
//!
//! Where two patterns match one path, the more specific wins: comparing segment by segment, the
//! first place where one has a literal and the other a parameter decides for the literal (so
//! `/me/subscriptions/links/:id` beats `/me/subscriptions/:id/auto-renew` for
//! `/me/subscriptions/links/x`). Two routes of the same shape (equal but for parameter names) can
//! never be told apart and are refused at load.

use std::sync::Arc;

use crate::bindings::Route;
use crate::registry::Canary;
use crate::runtime::{LoadError, LoadedComponent};

/// Routes the host serves itself; no component may declare them.
pub const HOST_ROUTES: [(&str, &str); 4] = [
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

/// The host's component administration (`components::api`) owns every path under this one.
pub const COMPONENTS_API: &str = "/admin/components";

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse(path: &str) -> Vec<Segment> {
    segments(path)
        .into_iter()
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

/// Checks one declared route: method, pattern shape, schemas, status.
pub fn validate(route: &Route) -> Result<(), LoadError> {
    let bad = |reason: &str| LoadError::BadRoute {
        method: route.method.clone(),
        path: route.path.clone(),
        reason: reason.to_string(),
    };
    if !METHODS.contains(&route.method.as_str()) {
        return Err(bad("method must be one of GET, POST, PUT, PATCH, DELETE"));
    }
    if !route.path.starts_with('/')
        || route.path.contains("//")
        || route.path.contains(['?', '#', ' '])
    {
        return Err(bad(
            "path must start with '/' and hold no empty segments, '?', '#' or spaces",
        ));
    }
    let mut names = Vec::new();
    for segment in parse(&route.path) {
        if let Segment::Param(name) = segment {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad(
                    "a parameter is ':' and a name of letters, digits or '_'",
                ));
            }
            if names.contains(&name) {
                return Err(bad("a parameter name is used twice"));
            }
            names.push(name);
        }
    }
    if HOST_ROUTES
        .iter()
        .any(|(m, p)| *m == route.method && *p == route.path)
    {
        return Err(bad("the host serves this route itself"));
    }
    let under_api = route
        .path
        .strip_prefix(COMPONENTS_API)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if under_api {
        return Err(bad(
            "the host serves /admin/components and every path under it",
        ));
    }
    for schema in [&route.request_schema, &route.response_schema]
        .into_iter()
        .flatten()
    {
        if serde_json::from_str::<serde_json::Value>(schema).is_err() {
            return Err(bad("a schema is not valid JSON"));
        }
    }
    if let Some(schema) = &route.query_schema {
        let value: serde_json::Value =
            serde_json::from_str(schema).map_err(|_| bad("the query schema is not valid JSON"))?;
        if !value["properties"].is_object() {
            return Err(bad("the query schema must be an object with properties"));
        }
    }
    if !(100..=599).contains(&route.success_status) {
        return Err(bad("success status must be 100..=599"));
    }
    Ok(())
}

pub struct Entry {
    pub route: Route,
    /// The name's active version.
    pub component: Arc<LoadedComponent>,
    /// The name's canary, when one runs: same routes, another version.
    pub canary: Option<Arc<Canary>>,
    segments: Vec<Segment>,
}

impl Entry {
    /// The version one request runs on, drawn once at dispatch: the canary for its share of
    /// requests, else the active version. No lock and no allocation on the way.
    pub fn pick(&self) -> &Arc<LoadedComponent> {
        match &self.canary {
            Some(canary) if percent_draw() < canary.percent => &canary.component,
            _ => &self.component,
        }
    }
}

/// 0..100, uniform (fastrand's per-thread generator: no lock, statistical quality, not secrecy).
fn percent_draw() -> u8 {
    fastrand::u8(..100)
}

/// The outcome of looking a request up.
pub enum Lookup<'a> {
    Found {
        entry: &'a Entry,
        params: Vec<(String, String)>,
    },
    /// The path exists, but not for this method.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

#[derive(Default)]
pub struct RouteTable {
    entries: Vec<Entry>,
}

impl RouteTable {
    pub fn build(
        components: &[Arc<LoadedComponent>],
        canaries: &[Arc<Canary>],
    ) -> Result<Self, LoadError> {
        let mut entries: Vec<Entry> = Vec::new();
        for component in components {
            for route in &component.routes {
                let segments = parse(&route.path);
                if let Some(other) = entries
                    .iter()
                    .find(|e| e.route.method == route.method && same_shape(&e.segments, &segments))
                {
                    return Err(LoadError::Overlap {
                        method: route.method.clone(),
                        path: route.path.clone(),
                        first: component.name.to_string(),
                        other_path: other.route.path.clone(),
                        second: other.component.name.to_string(),
                    });
                }
                let canary = canaries
                    .iter()
                    .find(|c| Arc::ptr_eq(&c.active, component))
                    .cloned();
                entries.push(Entry {
                    route: route.clone(),
                    component: Arc::clone(component),
                    canary,
                    segments,
                });
            }
        }
        Ok(RouteTable { entries })
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let parts = segments(path);
        let mut allowed = Vec::new();
        let mut best: Option<(&Entry, Vec<(String, String)>)> = None;
        for entry in &self.entries {
            let Some(params) = match_segments(&entry.segments, &parts) else {
                continue;
            };
            if entry.route.method != method {
                allowed.push(entry.route.method.clone());
                // The host answers HEAD wherever GET is served (`server::dispatch`).
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

fn match_segments(pattern: &[Segment], parts: &[&str]) -> Option<Vec<(String, String)>> {
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

/// A public route answering 200 with nothing declared, for unit tests of what reads routes.
#[cfg(test)]
pub(crate) fn route(method: &str, path: &str) -> Route {
    Route {
        method: method.into(),
        path: path.into(),
        auth: crate::bindings::AuthLevel::Public,
        summary: String::new(),
        request_schema: None,
        response_schema: None,
        query_schema: None,
        success_status: 200,
    }
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
    fn draws_spread_over_every_percent() {
        let mut seen = [0u32; 100];
        for _ in 0..100_000 {
            seen[percent_draw() as usize] += 1;
        }
        // 1000 expected per percent; a stuck or skewed generator leaves some far off.
        assert!(seen.iter().all(|n| (700..1300).contains(n)), "{seen:?}");
    }

    /// The refusal's reason for a route `validate` refuses.
    fn refused(method: &str, path: &str) -> String {
        match validate(&route(method, path)) {
            Ok(()) => panic!("{method} {path} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_hosts_paths_are_reserved() {
        for (method, path) in HOST_ROUTES {
            assert!(refused(method, path).contains("the host serves this route"));
        }
        for path in ["/admin/components", "/admin/components/x/activate"] {
            assert!(
                refused("POST", path).contains("/admin/components"),
                "{path}"
            );
        }
        // A path that only starts with the same letters is a component's to take.
        assert!(validate(&route("GET", "/admin/components-report")).is_ok());
        // The host's GET routes leave other methods free.
        assert!(validate(&route("POST", "/health")).is_ok());
    }

    #[test]
    fn malformed_routes_are_named() {
        assert!(refused("TRACE", "/a").contains("method must be one of"));
        assert!(refused("GET", "a").contains("must start with '/'"));
        assert!(refused("GET", "/a//b").contains("no empty segments"));
        assert!(refused("GET", "/a?b").contains("'?'"));
        assert!(refused("GET", "/a/:").contains("a parameter is ':' and a name"));
        assert!(refused("GET", "/a/:b-c").contains("a parameter is ':' and a name"));
        assert!(refused("GET", "/a/:id/b/:id").contains("used twice"));
        let mut bad_status = route("GET", "/a");
        bad_status.success_status = 42;
        assert!(validate(&bad_status).is_err());
    }

    #[test]
    fn params_are_percent_decoded() {
        let params = match_segments(&parse("/u/:id"), &segments("/u/a%20b")).expect("match");
        assert_eq!(params, vec![("id".to_string(), "a b".to_string())]);
        assert!(match_segments(&parse("/u/:id"), &segments("/u/a/b")).is_none());
    }
}
