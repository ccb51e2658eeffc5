//! What an operator does to a subscription and its links from the user's page: cancel (after
//! choosing the refund rule, each rule said plainly), reset a link's credential (asks first:
//! the old address stops working), disable or enable a link; and a link's address as a QR code.

use maud::{html, Markup, PreEscaped};
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, Asked, Frame};
use crate::session::Admin;

/// The refund rules `POST /admin/subscriptions/:id/cancel` takes, each with what it means.
const REFUND_RULES: [(&str, &str); 3] = [
    ("none", "No refund: the user keeps nothing of the price."),
    (
        "prorata",
        "Pro rata: the unused part of the current period goes back to the balance.",
    ),
    (
        "full",
        "Full: the whole price of the current period goes back to the balance.",
    ),
];

/// The buttons beside an active subscription.
pub fn actions(admin: &Admin, user: &str, sub: &Value) -> Markup {
    let id = sub["id"].as_str().unwrap_or_default();
    html! {
        @if sub["status"].as_str() == Some("active") {
            form method="post" action={"/console/users/" (user) "/subscriptions/" (id) "/cancel"} {
                (page::token_field(admin))
                button.danger type="submit" { "Cancel" }
            }
        }
    }
}

/// A link: its address to copy, its QR code, and the buttons that change it.
pub fn link(admin: &Admin, user: &str, link: &Value) -> Markup {
    let id = link["id"].as_str().unwrap_or_default();
    let url = link["url"].as_str().unwrap_or_default();
    let enabled = link["enabled"].as_bool() != Some(false);
    let action = |what: &str| format!("/console/users/{user}/links/{id}/{what}");
    html! {
        div.link-row {
            div.address {
                input.link id={"link-" (id)} readonly value=(url) aria-label="Subscription address";
                (page::copy_button(&format!("link-{id}")))
                @if !enabled { (page::pill("disabled")) }
            }
            div.actions {
                details { summary { "QR code" } div.qr { (qr(url)) } }
                form method="post" action=(action("reset")) {
                    (page::token_field(admin))
                    button.quiet type="submit" { "Reset" }
                }
                form method="post" action=(action(if enabled { "disable" } else { "enable" })) {
                    (page::token_field(admin))
                    button.quiet type="submit" { @if enabled { "Disable" } @else { "Enable" } }
                }
            }
        }
    }
}

/// `text` as a QR code in inline SVG (no image request, so the page's policy stays strict).
fn qr(text: &str) -> Markup {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return html! { p.hint { "Too long for a QR code." } };
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // The renderer writes an XML declaration first; inside HTML only the `<svg>` belongs.
    let start = svg.find("<svg").unwrap_or(0);
    PreEscaped(svg[start..].to_string())
}

/// `POST /console/users/:id/subscriptions/:sub/cancel`: the rule chosen on a confirmation page,
/// then the cancellation with its refund.
pub fn cancel(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let (user, sub) = (req.param("id")?, req.param("sub")?);
    let back = format!("/console/users/{user}");
    let Some(rule) = fields
        .get("refund")
        .filter(|_| fields.get("confirm") == Some("yes"))
    else {
        return Ok(cancel_page(admin, user, sub, &back));
    };
    let body = json!({ "refund": rule });
    let result = call::send(
        admin,
        "POST",
        &format!("/admin/subscriptions/{}/cancel", encode(sub)),
        Some(&body),
    );
    done(admin, &back, "cancelled", result)
}

fn cancel_page(admin: &Admin, user: &str, sub: &str, back: &str) -> Response {
    let frame = Frame {
        title: "Cancel this subscription?",
        section: "/console/users",
        admin,
        notice: None,
    };
    let action = format!("/console/users/{user}/subscriptions/{sub}/cancel");
    let asked = Asked {
        question: "Cancel this subscription?",
        consequence: "It ends now: the user's links stop working at once. Choose what the user \
                      gets back.",
        action: &action,
        fields: &[],
        choice: html! {
            @for (i, (rule, meaning)) in REFUND_RULES.iter().enumerate() {
                label { input type="radio" name="refund" value=(rule) checked[i == 0]; " " (meaning) }
            }
        },
        yes: "Yes, cancel it",
        back,
    };
    page::confirm_choosing(frame, asked)
}

/// `POST /console/users/:id/links/:link/:action`: reset (after a confirmation), disable or
/// enable a link.
pub fn link_action(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let (user, link, action) = (req.param("id")?, req.param("link")?, req.param("action")?);
    let back = format!("/console/users/{user}");
    let target = format!("/admin/subscriptions/links/{}", encode(link));
    let result = match action {
        "reset" if fields.get("confirm") != Some("yes") => {
            let frame = Frame {
                title: "Reset this link?",
                section: "/console/users",
                admin,
                notice: None,
            };
            return Ok(page::confirm(
                frame,
                "Reset this link?",
                "It gets a new address: the old one stops working at once, and the user must add the new one to their app.",
                &format!("/console/users/{user}/links/{link}/reset"),
                &[],
                &back,
            ));
        }
        "reset" => call::send(admin, "POST", &format!("{target}/reset"), None),
        "disable" | "enable" => {
            let body = json!({ "enabled": action == "enable" });
            call::send(admin, "PATCH", &target, Some(&body))
        }
        other => {
            return Err(ApiError::not_found(
                "unknown_action",
                format!("{other:?} is not reset, disable or enable"),
            ))
        }
    };
    done(admin, &back, action, result)
}

/// Back to the user's page with what was done, or the API's refusal with the way back.
fn done(
    admin: &Admin,
    back: &str,
    what: &str,
    result: Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    page::after(
        admin,
        result,
        &format!("{back}?done={what}"),
        "/console/users",
        (back, "Back to the user"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_code_is_inline_svg_and_too_long_text_says_so() {
        let svg =
            qr("https://vpn.example.com/sub/5b0c8c8e-8d4f-4a43-9d3c-3b2c7c1e2f10").into_string();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<path") || svg.contains("<rect"), "drawn");
        let long = "x".repeat(8000);
        assert!(qr(&long).into_string().contains("Too long"));
    }
}
