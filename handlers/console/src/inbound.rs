//! The inbound editor: one inbound of a kind an operator picks (VLESS with REALITY — its key
//! pair made by the API —, VMess over WebSocket, Trojan, Shadowsocks 2022 with a fresh key), as
//! the node's API takes it, and the API's messages about it put back beside the form's fields.

use base64::Engine as _;
use maud::{html, Markup};
use nexuma_sdk::ApiError;
use serde_json::{json, Value};

use crate::call;
use crate::form::Form;
use crate::page::field_error;
use crate::session::Admin;

/// The kinds the editor makes: form value and label.
const KINDS: [(&str, &str); 4] = [
    (
        "vless-reality",
        "VLESS with REALITY (no certificate needed)",
    ),
    ("vmess-ws", "VMess over WebSocket"),
    ("trojan", "Trojan"),
    ("shadowsocks", "Shadowsocks 2022"),
];
/// The form's fields, as the errors name them.
pub const FIELDS: [&str; 7] = [
    "kind",
    "tag",
    "port",
    "listen",
    "path",
    "realityDest",
    "realityServerName",
];
const DEFAULT_DEST: &str = "www.microsoft.com:443";
const DEFAULT_SERVER_NAME: &str = "www.microsoft.com";
const SHADOWSOCKS_METHOD: &str = "2022-blake3-aes-256-gcm";

/// The editor's fields, as typed before (or the defaults).
pub fn fields(error: Option<&ApiError>, typed: &Form) -> Markup {
    let kind = typed.get("kind").unwrap_or("vless-reality");
    let value = |name: &str, default: &str| typed.filled(name).unwrap_or(default).to_string();
    html! {
        label for="kind" { "Kind" }
        select #kind name="kind" {
            @for (value, label) in KINDS { option value=(value) selected[value == kind] { (label) } }
        }
        (field_error(error, "kind"))
        label for="tag" { "Tag" }
        input #tag name="tag" value=(value("tag", "")) placeholder="e.g. vless-443 (unique on the node)" required;
        (field_error(error, "tag"))
        label for="port" { "Port" }
        input #port name="port" type="number" min="1" max="65535" value=(value("port", "443")) required;
        (field_error(error, "port"))
        label for="listen" { "Listen address" }
        input #listen name="listen" value=(value("listen", "")) placeholder="empty: every address";
        (field_error(error, "listen"))
        label for="path" { "WebSocket path (VMess)" }
        input #path name="path" value=(value("path", "/ws"));
        (field_error(error, "path"))
        label for="realityDest" { "REALITY camouflage site (VLESS)" }
        input #realityDest name="realityDest" value=(value("realityDest", DEFAULT_DEST));
        (field_error(error, "realityDest"))
        label for="realityServerName" { "REALITY server name (VLESS)" }
        input #realityServerName name="realityServerName" value=(value("realityServerName", DEFAULT_SERVER_NAME));
        (field_error(error, "realityServerName"))
        p.hint { "Fields that do not apply to the kind are left out." }
    }
}

/// The inbound the form describes, as `POST`/`PATCH /admin/nodes` take it.
pub fn spec(admin: &Admin, form: &Form) -> Result<Value, ApiError> {
    let port: u16 = form
        .get("port")
        .unwrap_or_default()
        .parse()
        .map_err(|_| ApiError::validation("port", "must be a port from 1 to 65535"))?;
    let mut inbound = json!({ "tag": form.get("tag").unwrap_or_default(), "port": port });
    if let Some(listen) = form.filled("listen") {
        inbound["listen"] = json!(listen);
    }
    let kind = form.get("kind").unwrap_or_default();
    let specific = match kind {
        "vless-reality" => reality(admin, form)?,
        "vmess-ws" => json!({
            "protocol": "vmess",
            "network": "ws",
            "path": form.filled("path").unwrap_or("/ws"),
        }),
        "trojan" => json!({ "protocol": "trojan" }),
        "shadowsocks" => json!({
            "protocol": "shadowsocks",
            "method": SHADOWSOCKS_METHOD,
            "serverKey": shadowsocks_key()?,
        }),
        other => {
            return Err(ApiError::validation(
                "kind",
                format!("{other:?} is not a kind the editor makes"),
            ))
        }
    };
    if let (Some(inbound), Some(specific)) = (inbound.as_object_mut(), specific.as_object()) {
        inbound.extend(specific.clone());
    }
    Ok(inbound)
}

/// VLESS over TCP with REALITY and Vision, on a key pair the API makes.
fn reality(admin: &Admin, form: &Form) -> Result<Value, ApiError> {
    let keys = call::send(admin, "POST", "/admin/nodes/reality-keys", None)?;
    Ok(json!({
        "protocol": "vless",
        "security": "reality",
        "flow": "xtls-rprx-vision",
        "reality": {
            "dest": form.filled("realityDest").unwrap_or(DEFAULT_DEST),
            "serverNames": [form.filled("realityServerName").unwrap_or(DEFAULT_SERVER_NAME)],
            "privateKey": keys["privateKey"],
            "shortIds": [""],
        },
    }))
}

/// A Shadowsocks 2022 server key: 32 random bytes, standard base64.
fn shadowsocks_key() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The API's error about the first inbound of a new node, named as the form names it.
pub fn first(err: ApiError) -> ApiError {
    at(err, 0)
}

/// The API's error about inbound `index`, named as the form names it; others as they are.
pub fn at(mut err: ApiError, index: usize) -> ApiError {
    let prefix = format!("inbounds[{index}].");
    if let Some(rest) = err.field.as_deref().and_then(|f| f.strip_prefix(&prefix)) {
        let field = match rest {
            r if r.starts_with("reality.dest") => "realityDest",
            r if r.starts_with("reality.serverNames") => "realityServerName",
            r => FIELDS.iter().copied().find(|f| r == *f).unwrap_or("kind"),
        };
        err.field = Some(field.to_string());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apis_field_of_an_inbound_is_the_forms() {
        let named = |field: &str, index| {
            let mut err = ApiError::validation(field, "bad");
            err.field = Some(field.to_string());
            at(err, index).field.unwrap_or_default()
        };
        assert_eq!(named("inbounds[0].port", 0), "port");
        assert_eq!(named("inbounds[2].tag", 2), "tag");
        assert_eq!(named("inbounds[0].reality.dest", 0), "realityDest");
        assert_eq!(
            named("inbounds[0].reality.serverNames[0]", 0),
            "realityServerName"
        );
        assert_eq!(named("inbounds[0].flow", 0), "kind");
        assert_eq!(named("inbounds[1].port", 0), "inbounds[1].port");
        assert_eq!(named("name", 0), "name");
    }
}
