//! A component's route table: one [`Endpoint`] per route — method, path, auth level, summary,
//! handler and doc — from which the `routes` and `route-docs` exports and every request's dispatch all
//! come, so what a component declares and what it answers cannot drift apart.
//!
//! The table is a `const` slice: a request only scans it for its `(method, route)` and calls
//! the handler (no allocation); the docs, with their derived schemas, are built only when the
//! host asks for them, once per load.

use crate::bindings::nexuma::core::types::{self as wit, RouteDoc};
use crate::{ApiError, AuthLevel, Request, Response, Route};

/// The function that answers one route; an `Err` becomes the JSON error response.
pub type Handler = fn(&Request) -> Result<Response, ApiError>;

/// What the API document says about a route beyond its method, path, auth level and summary:
/// applied to the bare [`Route`] when the host loads the component, never per request.
pub type Doc = fn(Route) -> Route;

/// One row of a component's route table: who may call `method path`, its one-line summary, the
/// handler that answers it, and its doc.
///
/// Built in a `const` context, so a table is a plain slice:
///
/// ```no_run
/// use nexuma_sdk::{response, ApiError, AuthLevel, Endpoint, Request, Response};
///
/// fn me(_req: &Request) -> Result<Response, ApiError> {
///     response::json(200, &serde_json::json!({ "me": true }))
/// }
///
/// const ROUTES: &[Endpoint] = &[Endpoint::get("/me/:id", me)
///     .auth(AuthLevel::User)
///     .summary("The caller's profile")
///     .doc(|route| route.id_param("user").error(404, "No such user"))];
/// ```
#[derive(Clone, Copy)]
pub struct Endpoint {
    method: &'static str,
    path: &'static str,
    auth: AuthLevel,
    summary: &'static str,
    handler: Handler,
    doc: Doc,
}

impl Endpoint {
    /// A public route with no doc yet; `method` in upper case, as the host hands it over.
    const fn new(method: &'static str, path: &'static str, handler: Handler) -> Self {
        Endpoint {
            method,
            path,
            auth: AuthLevel::Public,
            summary: "",
            handler,
            doc: |route| route,
        }
    }

    /// A `GET` route (the host also answers `HEAD` with it).
    pub const fn get(path: &'static str, handler: Handler) -> Self {
        Self::new("GET", path, handler)
    }

    /// A `POST` route.
    pub const fn post(path: &'static str, handler: Handler) -> Self {
        Self::new("POST", path, handler)
    }

    /// A `PUT` route.
    pub const fn put(path: &'static str, handler: Handler) -> Self {
        Self::new("PUT", path, handler)
    }

    /// A `PATCH` route.
    pub const fn patch(path: &'static str, handler: Handler) -> Self {
        Self::new("PATCH", path, handler)
    }

    /// A `DELETE` route.
    pub const fn delete(path: &'static str, handler: Handler) -> Self {
        Self::new("DELETE", path, handler)
    }

    /// Who may call it (public unless set); the host enforces it before the component runs.
    pub const fn auth(mut self, level: AuthLevel) -> Self {
        self.auth = level;
        self
    }

    /// One line for the API document: what the route does.
    pub const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    /// The rest of the route's doc: schemas, status, parameters, headers, errors (see [`Route`]).
    pub const fn doc(mut self, doc: Doc) -> Self {
        self.doc = doc;
        self
    }

    /// The route's method, in upper case.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The route's path pattern, e.g. `/admin/users/:id`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The route with its doc applied: what the `routes` and `route-docs` exports carry.
    pub fn route(&self) -> Route {
        let route = Route::new(self.method, self.path)
            .auth(self.auth)
            .summary(self.summary);
        (self.doc)(route)
    }

    /// Whether this row answers the request: the host hands over the pattern it matched.
    fn serves(&self, req: &Request) -> bool {
        self.path == req.route && self.method == req.method
    }
}

/// Answers a request from `table`: the handler of its `(method, route)`, else
/// [`Request::unhandled`]'s 404.
pub fn handle(table: &[Endpoint], req: &Request) -> Result<Response, ApiError> {
    match table.iter().find(|endpoint| endpoint.serves(req)) {
        Some(endpoint) => (endpoint.handler)(req),
        None => Err(req.unhandled()),
    }
}

/// The `routes` export: the table's route records, in its order.
pub fn records(table: &[Endpoint]) -> Vec<wit::Route> {
    table
        .iter()
        .map(|endpoint| endpoint.route().into_record())
        .collect()
}

/// The `route-docs` export: the docs of the table's routes that say more than their records.
pub fn route_docs(table: &[Endpoint]) -> Vec<RouteDoc> {
    table
        .iter()
        .filter_map(|endpoint| endpoint.route().route_doc())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response;

    fn listed(_req: &Request) -> Result<Response, ApiError> {
        response::text(200, "text/plain", "listed")
    }

    fn created(_req: &Request) -> Result<Response, ApiError> {
        response::text(201, "text/plain", "created")
    }

    const TABLE: &[Endpoint] = &[
        Endpoint::get("/items", listed).summary("The items"),
        Endpoint::post("/items", created)
            .auth(AuthLevel::Admin)
            .summary("Add an item")
            .doc(|route| route.status(201).error(409, "Taken")),
        Endpoint::delete("/items/:id", |_req| response::no_content()).auth(AuthLevel::User),
    ];

    fn request(method: &str, route: &str) -> Request {
        let mut req = Request::with_query(&[]);
        req.method = method.into();
        req.route = route.into();
        req
    }

    fn answered(method: &str, route: &str) -> Response {
        handle(TABLE, &request(method, route)).unwrap_or_else(ApiError::into_response)
    }

    #[test]
    fn a_request_reaches_the_handler_of_its_method_and_route() {
        let list = answered("GET", "/items");
        assert_eq!((list.status, list.body.as_slice()), (200, &b"listed"[..]));
        let create = answered("POST", "/items");
        assert_eq!(
            (create.status, create.body.as_slice()),
            (201, &b"created"[..])
        );
        assert_eq!(answered("DELETE", "/items/:id").status, 204);
    }

    #[test]
    fn an_unknown_route_answers_what_unhandled_answers() {
        for (method, route) in [
            ("GET", "/nowhere"),
            ("PUT", "/items"),
            ("GET", "/items/:id"),
        ] {
            let answer = answered(method, route);
            let expected = request(method, route).unhandled().into_response();
            assert_eq!(answer.status, 404, "{method} {route}");
            assert_eq!(answer.headers, expected.headers);
            assert_eq!(answer.body, expected.body);
        }
    }

    #[test]
    fn the_exports_list_exactly_the_tables_routes() {
        let records = records(TABLE);
        let declared: Vec<(&str, &str, AuthLevel)> = records
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.auth))
            .collect();
        let table: Vec<(&str, &str, AuthLevel)> = TABLE
            .iter()
            .map(|e| (e.method(), e.path(), e.auth))
            .collect();
        assert_eq!(declared, table);
        assert_eq!(records[0].summary, "The items");
        assert_eq!(records[1].success_status, 201);
        // Only the route whose doc says more than its record has a route doc.
        let docs: Vec<(String, String)> = route_docs(TABLE)
            .into_iter()
            .map(|doc| (doc.method, doc.path))
            .collect();
        assert_eq!(docs, [("POST".to_string(), "/items".to_string())]);
    }
}
