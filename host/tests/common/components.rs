//! What the component tests share (`components.rs`, `canary.rs`, `component_schema.rs`): the
//! built test components, their hashes, uploads
//! and the operator's list.

use serde_json::Value;

use super::{Core, Reply};

/// The bytes of a built component (`handlers/target/.../<name>.wasm`).
pub fn wasm(name: &str) -> Vec<u8> {
    let path = super::wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make handlers`)", path.display()))
}

/// A version's key: the SHA-256 of its bytes, lower-case hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// `POST /admin/components{query}` with `bytes` as the body.
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

/// Stores `file` as a version of `name` through `core`, not activated (the upload must be new:
/// 201); its hash.
pub async fn store_version(core: &Core, admin: &str, name: &str, file: &str) -> String {
    let r = upload(core, Some(admin), &format!("?name={name}"), wasm(file)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    sha256(&wasm(file))
}

/// `GET /admin/components`.
pub async fn list(core: &Core, token: &str) -> Value {
    let r = core.get("/admin/components", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The component `name` in the list.
pub fn component<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {list}"))
}
