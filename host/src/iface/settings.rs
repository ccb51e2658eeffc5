//! `nexuma:core/settings`: the Core's non-secret settings that components need.

use crate::bindings::nexuma::core::settings as wit;
use crate::runtime::State;

impl wit::Host for State {
    async fn public_url(&mut self) -> wasmtime::Result<String> {
        Ok(self.caps.public_url.clone())
    }
}
