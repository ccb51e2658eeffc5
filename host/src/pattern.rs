//! Route patterns: the segments a route's path is made of (`:name` a parameter), and the checks a
//! route a component declares must pass before it is served. The route table (`routes.rs`) is
//! built from patterns that passed; the runtime checks each route as a component loads.

use thiserror::Error;

use crate::bindings::Route;

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

/// A declared route the host will not serve, and why.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{method} {path}: {reason}")]
pub struct InvalidRoute {
    pub method: String,
    pub path: String,
    pub reason: String,
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
}

/// A path's non-empty segments: `/a//b/` and `/a/b` are the same path.
pub fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// A pattern's segments, parameters told from literals.
pub fn parse(path: &str) -> Vec<Segment> {
    segments(path)
        .into_iter()
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

/// Checks one declared route: method, pattern shape, reserved paths, schemas, status.
pub fn validate(route: &Route) -> Result<(), InvalidRoute> {
    let bad = |reason: &str| InvalidRoute {
        method: route.method.clone(),
        path: route.path.clone(),
        reason: reason.to_string(),
    };
    if !METHODS.contains(&route.method.as_str()) {
        return Err(bad("method must be one of GET, POST, PUT, PATCH, DELETE"));
    }
    check_path(&route.path).map_err(bad)?;
    check_reserved(route).map_err(bad)?;
    check_schemas(route).map_err(bad)?;
    if !(100..=599).contains(&route.success_status) {
        return Err(bad("success status must be 100..=599"));
    }
    Ok(())
}

/// The path's form and its parameters' names.
fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') || path.contains("//") || path.contains(['?', '#', ' ']) {
        return Err("path must start with '/' and hold no empty segments, '?', '#' or spaces");
    }
    let mut names = Vec::new();
    for segment in parse(path) {
        if let Segment::Param(name) = segment {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err("a parameter is ':' and a name of letters, digits or '_'");
            }
            if names.contains(&name) {
                return Err("a parameter name is used twice");
            }
            names.push(name);
        }
    }
    Ok(())
}

/// The host's own routes, and every path of its component administration.
fn check_reserved(route: &Route) -> Result<(), &'static str> {
    if HOST_ROUTES
        .iter()
        .any(|(m, p)| *m == route.method && *p == route.path)
    {
        return Err("the host serves this route itself");
    }
    let under_api = route
        .path
        .strip_prefix(COMPONENTS_API)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if under_api {
        return Err("the host serves /admin/components and every path under it");
    }
    Ok(())
}

/// The declared schemas are JSON; a query schema is an object with properties.
fn check_schemas(route: &Route) -> Result<(), &'static str> {
    for schema in [&route.request_schema, &route.response_schema]
        .into_iter()
        .flatten()
    {
        if serde_json::from_str::<serde_json::Value>(schema).is_err() {
            return Err("a schema is not valid JSON");
        }
    }
    if let Some(schema) = &route.query_schema {
        let value: serde_json::Value =
            serde_json::from_str(schema).map_err(|_| "the query schema is not valid JSON")?;
        if !value["properties"].is_object() {
            return Err("the query schema must be an object with properties");
        }
    }
    Ok(())
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
    fn a_refusal_names_the_route() {
        let refusal = validate(&route("TRACE", "/a/:id")).expect_err("refused");
        assert_eq!(refusal.method, "TRACE");
        assert_eq!(refusal.path, "/a/:id");
        assert!(refusal.to_string().starts_with("TRACE /a/:id: "));
    }
}
