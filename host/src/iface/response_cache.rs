//! `nexuma:core/response-cache`: a component lets the host keep its answer to the current
//! request. The policy is held in the instance's state and applied by the server when the
//! answer comes back (`crate::cache`).

use crate::bindings::nexuma::core::response_cache::{self as wit, Policy};
use crate::runtime::State;

impl wit::Host for State {
    async fn keep(&mut self, policy: Policy) -> wasmtime::Result<()> {
        self.keep = Some(policy);
        Ok(())
    }
}
