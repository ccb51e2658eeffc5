//! In-process requests (`nexuma:core/api`): a component's request runs through the same
//! `dispatch` as one from a connection, from the calling request's client, one level deeper,
//! and gets its own log line under the calling request's id.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use super::{dispatch, log, stamp};
use crate::app::Core;
use crate::iface::api::{Answer, Dispatch, Nested};

impl Dispatch for Core {
    fn dispatch(
        &self,
        req: http::Request<Full<Bytes>>,
        nested: Nested,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + '_>> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            // Port 0: the client's port is the calling connection's business, not this one's.
            let peer = SocketAddr::new(nested.client, 0);
            let id = &*nested.request_id;
            let outcome = dispatch(self, peer, id, req, nested.depth).await;
            log(&outcome, id, &method, started.elapsed(), nested.depth);
            let (parts, body) = stamp(outcome.response, id).into_parts();
            // A `Full` body is whole: collecting it cannot fail.
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            http::Response::from_parts(parts, body)
        })
    }
}
