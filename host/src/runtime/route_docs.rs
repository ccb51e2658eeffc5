//! What components say about their routes beyond the route records (`route-docs`, contract
//! 0.1.2): OpenAPI Operation fragments, checked when the component is loaded so that a typo is
//! refused at upload rather than served as a document that says nothing.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::loaded::LoadError;
use crate::bindings::nexuma::core::types::RouteDoc;
use crate::bindings::Route;

/// The keys of an Operation Object a component may give; the rest are the host's.
const KEYS: [&str; 4] = ["description", "parameters", "requestBody", "responses"];

/// Each documented route's fragment, by method and path pattern.
#[derive(Debug, Default)]
pub struct RouteDocs(HashMap<(String, String), Map<String, Value>>);

/// The name of a path parameter the fragment describes that is not a `:name` segment of `path`.
fn unknown_segment(fragment: &Map<String, Value>, path: &str) -> Option<String> {
    let params = fragment.get("parameters")?.as_array()?;
    params
        .iter()
        .filter(|p| p["in"] == "path")
        .filter_map(|p| p["name"].as_str())
        .find(|name| !path.split('/').any(|s| s.strip_prefix(':') == Some(*name)))
        .map(str::to_string)
}

impl RouteDocs {
    /// Checks what a component declared: each fragment a JSON object of the keys it may give,
    /// for a route it serves, once.
    pub fn read(docs: Vec<RouteDoc>, routes: &[Route]) -> Result<Self, LoadError> {
        let mut read = HashMap::new();
        for doc in docs {
            let refuse = |reason: String| LoadError::BadRoute {
                method: doc.method.clone(),
                path: doc.path.clone(),
                reason,
            };
            if !routes
                .iter()
                .any(|r| r.method == doc.method && r.path == doc.path)
            {
                return Err(refuse(
                    "route-docs describes a route it does not serve".into(),
                ));
            }
            let fragment = match serde_json::from_str(&doc.operation) {
                Ok(Value::Object(fragment)) => fragment,
                Ok(_) => return Err(refuse("its route doc is not a JSON object".into())),
                Err(e) => return Err(refuse(format!("its route doc is not JSON: {e}"))),
            };
            if let Some(key) = fragment.keys().find(|k| !KEYS.contains(&k.as_str())) {
                return Err(refuse(format!(
                    "its route doc sets {key:?}; a component may set {}",
                    KEYS.join(", ")
                )));
            }
            if let Some(name) = unknown_segment(&fragment, &doc.path) {
                return Err(refuse(format!(
                    "its route doc describes the path parameter {name:?}, which its path does not have"
                )));
            }
            let key = (doc.method.clone(), doc.path.clone());
            if read.insert(key, fragment).is_some() {
                return Err(refuse("route-docs describes it twice".into()));
            }
        }
        Ok(RouteDocs(read))
    }

    /// The fragment for one route, if its component gave one.
    pub fn get(&self, method: &str, path: &str) -> Option<&Map<String, Value>> {
        self.0.get(&(method.to_string(), path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::route;

    fn doc(method: &str, path: &str, operation: &str) -> RouteDoc {
        RouteDoc {
            method: method.into(),
            path: path.into(),
            operation: operation.into(),
        }
    }

    fn refusal(docs: Vec<RouteDoc>) -> String {
        let routes = [route("GET", "/a/:id")];
        match RouteDocs::read(docs, &routes) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_served_route_s_fragment_is_kept() {
        let routes = [route("GET", "/a/:id")];
        let docs = RouteDocs::read(
            vec![doc("GET", "/a/:id", r#"{"description": "One a"}"#)],
            &routes,
        )
        .expect("read");
        assert_eq!(
            docs.get("GET", "/a/:id").expect("kept")["description"],
            "One a"
        );
        assert!(docs.get("POST", "/a/:id").is_none());
    }

    #[test]
    fn fragments_that_would_mislead_are_refused() {
        let other = refusal(vec![doc("GET", "/b", "{}")]);
        assert!(other.contains("does not serve"), "{other}");
        let security = refusal(vec![doc("GET", "/a/:id", r#"{"security": []}"#)]);
        assert!(security.contains("\"security\""), "{security}");
        let broken = refusal(vec![doc("GET", "/a/:id", "{")]);
        assert!(broken.contains("not JSON"), "{broken}");
        let segment = refusal(vec![doc(
            "GET",
            "/a/:id",
            r#"{"parameters": [{"name": "uuid", "in": "path"}]}"#,
        )]);
        assert!(segment.contains("\"uuid\""), "{segment}");
        let twice = refusal(vec![doc("GET", "/a/:id", "{}"), doc("GET", "/a/:id", "{}")]);
        assert!(twice.contains("twice"), "{twice}");
    }
}
