//! `nexuma:core/response-cache`: a component lets the host keep its answer to the current
//! request. The policy is held in the instance's state and applied by the server when the
//! answer comes back (`crate::cache`).

use wasmtime::component::HasData;

use crate::bindings::nexuma::core::response_cache::{self as wit, Policy};

/// What `response-cache` reaches of an instance's store: the slot the policy is kept in.
pub struct ResponseCacheCtx<'a> {
    /// The instance's slot: `None` until the guest calls `keep`; the last call wins.
    pub keep: &'a mut Option<Policy>,
}

/// Links `response-cache` to a [`ResponseCacheCtx`] view of the store.
pub struct ResponseCacheView;

impl HasData for ResponseCacheView {
    type Data<'a> = ResponseCacheCtx<'a>;
}

impl wit::Host for ResponseCacheCtx<'_> {
    async fn keep(&mut self, policy: Policy) -> wasmtime::Result<()> {
        *self.keep = Some(policy);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host as _;

    fn policy(ttl_ms: u64) -> Policy {
        Policy {
            ttl_ms,
            vary: vec!["user-agent".into()],
            depends_on: vec![("epoch".into(), Some("7".into()))],
        }
    }

    #[tokio::test]
    async fn the_last_policy_asked_for_is_kept() {
        let mut slot = None;
        let mut ctx = ResponseCacheCtx { keep: &mut slot };
        ctx.keep(policy(1000)).await.expect("call");
        ctx.keep(policy(2000)).await.expect("call");
        let kept = slot.expect("kept");
        assert_eq!(kept.ttl_ms, 2000);
        assert_eq!(kept.vary, ["user-agent"]);
        assert_eq!(
            kept.depends_on,
            [("epoch".to_string(), Some("7".to_string()))]
        );
    }
}
