//! The call step: the request as the component gets it, the call, and its answer as HTTP —
//! kept for others when the component lets the host keep it, or the failure's answer.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use super::Routed;
use crate::bindings::{self, Caller};
use crate::headers::{to_http, visible_headers};
use crate::iface::api::Source;
use crate::response::{error, Response};
use crate::runtime::{Answer, CallError};

impl Routed<'_> {
    /// The request as the component gets it: no credentials among its headers.
    pub(super) fn guest_request(
        &self,
        parts: &Parts,
        params: crate::routes::Params,
        query: Vec<(String, String)>,
        body: Bytes,
        caller: Option<Caller>,
    ) -> bindings::Request {
        bindings::Request {
            request_id: self.id.to_string(),
            method: self.run.method.as_str().to_string(),
            route: self.entry.route.path.clone(),
            path: parts.uri.path().to_string(),
            params,
            query,
            headers: visible_headers(&parts.headers),
            body: body.to_vec(),
            caller,
            remote_addr: self.client.to_string(),
        }
    }

    /// The version's answer to `request`, or the answer for its failure. `target` is the
    /// request's path and query when its answer may be shared.
    pub(super) async fn call(
        &self,
        request: &bindings::Request,
        target: Option<&str>,
        request_headers: &HeaderMap,
    ) -> Response {
        let caps = &self.core.caps;
        // The in-process calls the component makes (`api`) act for the same client, nested
        // below this request's depth.
        let source = Source {
            client: self.client,
            depth: self.depth,
        };
        match self
            .version
            .handle(caps, self.id.into(), source, request)
            .await
        {
            Ok(answer) => self.answered(answer, target, request_headers),
            Err(e) => failure(e, self.id, &self.version.name),
        }
    }

    /// The component's answer as HTTP, counted when it is a 5xx, kept when it may be.
    fn answered(
        &self,
        mut answer: Answer,
        target: Option<&str>,
        request_headers: &HeaderMap,
    ) -> Response {
        let version = self.version;
        let body = Bytes::from(std::mem::take(&mut answer.response.body));
        let response = to_http(answer.response, body.clone(), &version.name);
        if response.status().is_server_error() {
            // A failure a canary is judged by; a trap's 500 counts as a trap.
            version.stats.server_error();
        }
        if let (Some(target), Some(policy)) = (target, answer.keep) {
            self.core.responses.keep(
                &self.entry.route.path,
                target,
                request_headers,
                &version.sha256,
                &self.core.caps.kv,
                policy,
                &response,
                body,
            );
        }
        response
    }
}

/// The answer for a call that ended without one: 503 for the deadline or no free slot, 500
/// for the memory cap or a trap.
fn failure(err: CallError, id: &str, component: &str) -> Response {
    match &err {
        CallError::Deadline(limit) => {
            tracing::warn!(request_id = %id, component, error = %err, "component cut at its deadline");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "deadline_exceeded",
                &format!(
                    "the request took longer than {} ms and was stopped",
                    limit.as_millis()
                ),
            )
        }
        CallError::Memory(_) => {
            tracing::error!(request_id = %id, component, error = %err, "component exceeded its memory cap");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "memory_limit_exceeded",
                &format!("the request needed more memory than allowed (request id {id})"),
            )
        }
        CallError::Busy => {
            tracing::warn!(request_id = %id, component, "no free instance slot (COMPONENT_MAX_INSTANCES)");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is at capacity; retry shortly",
            )
        }
        CallError::Trap(_) => {
            tracing::error!(request_id = %id, component, error = %err, "component trapped");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "component_trap",
                &format!("the request failed inside the {component} component (request id {id})"),
            )
        }
    }
}
