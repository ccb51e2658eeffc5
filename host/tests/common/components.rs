//! What the component tests share (`components.rs`, `canary.rs`): the built test components,
//! uploads and the admin list.

use serde_json::Value;

use super::{Core, Reply};

/// A built component's bytes from the guest workspace.
pub fn wasm(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../handlers/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make handlers`)", path.display()))
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

pub async fn upload(core: &Core, token: Option<&str>, query: &str, bytes: Vec<u8>) -> Reply {
    let mut req = core
        .client
        .post(core.url(&format!("/admin/components{query}")))
        .header("content-type", "application/wasm")
        .body(bytes);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::from(req.send().await.expect("upload")).await
}

/// The component `name` in `GET /admin/components`.
pub fn component<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

pub async fn list(core: &Core, token: &str) -> Value {
    let r = core.get("/admin/components", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}
