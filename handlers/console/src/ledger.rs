//! A user's balance transactions on their page, and refunds of them: a charge, a renewal or a
//! withdrawal may be refunded in part or whole (the ledger bounds it by what is left), after a
//! confirmation that says what it does.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, Asked, Frame};
use crate::session::Admin;
use crate::tariffs::minor_units;

/// How many of the newest transactions the user's page shows.
pub const SHOWN: u32 = 20;
/// The kinds of transaction a refund may reverse.
const REFUNDABLE: [&str; 3] = ["charge", "renewal", "withdrawal"];

/// The newest transactions, each refundable one with its button.
pub fn table(admin: &Admin, user: &str, transactions: &Value) -> Markup {
    let items = transactions["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["When", "Kind", "Amount", "Balance after", "Reason", ""],
        items.iter().map(|t| {
            let id = t["id"].as_str().unwrap_or_default();
            let kind = t["kind"].as_str().unwrap_or_default();
            let currency = t["currency"].as_str().unwrap_or_default();
            html! {
                tr {
                    td { (format::moment(t["createdAt"].as_i64().unwrap_or(0))) }
                    td { (kind) }
                    td { (format::money(t["amount"].as_i64().unwrap_or(0), currency)) }
                    td { (format::money(t["balanceAfter"].as_i64().unwrap_or(0), currency)) }
                    td { (t["reason"].as_str().unwrap_or_default()) }
                    td.actions {
                        @if REFUNDABLE.contains(&kind) {
                            (page::button(admin, &format!("/console/users/{user}/refund"), &[("transactionId", id)], "Refund", "quiet"))
                        }
                    }
                }
            }
        }),
        "No transactions yet.",
    )
}

/// `POST /console/users/:id/refund`: asks how much (empty: all that is left), then refunds.
pub fn refund(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    let transaction = fields.get("transactionId").unwrap_or_default();
    let back = format!("/console/users/{user}");
    if fields.get("confirm") != Some("yes") {
        return Ok(confirm_page(admin, user, transaction, &back));
    }
    let mut body = json!({ "transactionId": transaction });
    let result = fields
        .filled("amount")
        .map(|a| minor_units("amount", a))
        .transpose()
        .and_then(|amount| {
            if let Some(amount) = amount {
                body["amount"] = json!(amount);
            }
            if let Some(reason) = fields.filled("reason") {
                body["reason"] = json!(reason);
            }
            call::send(
                admin,
                "POST",
                &format!("/admin/users/{}/balance/refund", encode(user)),
                Some(&body),
            )
        });
    page::after(
        admin,
        result,
        &format!("{back}?done=refund"),
        "/console/users",
        (&back, "Back to the user"),
    )
}

fn confirm_page(admin: &Admin, user: &str, transaction: &str, back: &str) -> Response {
    let frame = Frame {
        title: "Refund this transaction?",
        section: "/console/users",
        admin,
        notice: None,
    };
    let action = format!("/console/users/{user}/refund");
    let asked = Asked {
        question: "Refund this transaction?",
        consequence: "The amount goes back to the user's balance. Leave it empty to refund all \
                      that is not refunded yet.",
        action: &action,
        fields: &[("transactionId", transaction)],
        choice: html! {
            label for="amount" { "Amount" }
            input #amount name="amount" inputmode="decimal" placeholder="empty: all that is left";
            label for="reason" { "Reason" }
            input #reason name="reason" maxlength="500" placeholder="optional, kept in the ledger";
        },
        yes: "Yes, refund",
        back,
    };
    page::confirm_choosing(frame, asked)
}
