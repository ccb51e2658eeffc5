//! `POST /admin/xray/parse-link`: a share link → the core's outbound JSON.

use nexuma_sdk::{response, ApiError, Request, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    link: String,
}

pub fn parse_link(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    let c =
        xray::link::parse(&body.link).map_err(|e| ApiError::bad_request("invalid_link", e.0))?;
    response::json(
        200,
        &json!({
            "protocol": c.protocol.name(),
            "name": c.name,
            "address": c.address,
            "port": c.port,
            "outbound": xray::outbound::outbound(&c),
        }),
    )
}
