//! `billing`: tariffs, the balance ledger and the audit log (issue 5, first step).
//!
//! Money is an integer of minor units (kopecks, cents). Every balance change is one database
//! transaction that moves `balances.amount` with a conditional update (never below zero), writes
//! a `balance_ledger` row with the balance it left, and an `audit_log` row. Tables:
//! `migrations/*/0003_billing.sql`.

mod audit;
mod balance;
mod schema;
mod tariffs;
mod util;

use nexuma_sdk::{export_component, ApiError, AuthLevel, Component, Request, Response, Route};

struct Billing;

impl Component for Billing {
    fn routes() -> Vec<Route> {
        vec![
            Route::get("/admin/tariffs")
                .auth(AuthLevel::Admin)
                .summary("List tariffs (query: limit, offset)")
                .response_schema(schema::tariff_page()),
            Route::post("/admin/tariffs")
                .auth(AuthLevel::Admin)
                .summary("Create a tariff")
                .request_schema(schema::tariff_create())
                .response_schema(schema::tariff())
                .status(201),
            Route::get("/admin/tariffs/:id")
                .auth(AuthLevel::Admin)
                .summary("One tariff")
                .response_schema(schema::tariff()),
            Route::patch("/admin/tariffs/:id")
                .auth(AuthLevel::Admin)
                .summary("Change a tariff's fields (retire it with active: false)")
                .request_schema(schema::tariff_patch())
                .response_schema(schema::tariff()),
            Route::delete("/admin/tariffs/:id")
                .auth(AuthLevel::Admin)
                .summary("Delete a tariff")
                .response_schema(schema::empty())
                .status(204),
            Route::get("/me/balance")
                .auth(AuthLevel::User)
                .summary("The caller's balance")
                .response_schema(schema::balance()),
            Route::get("/me/balance/transactions")
                .auth(AuthLevel::User)
                .summary("The caller's balance transactions, newest first (query: limit, offset)")
                .response_schema(schema::transaction_page()),
            Route::get("/admin/users/:id/balance")
                .auth(AuthLevel::Admin)
                .summary("A user's balance")
                .response_schema(schema::balance()),
            Route::post("/admin/users/:id/balance/deposit")
                .auth(AuthLevel::Admin)
                .summary("Add money to a user's balance (idempotency-key header or idempotencyKey)")
                .request_schema(schema::movement_request())
                .response_schema(schema::transaction()),
            Route::post("/admin/users/:id/balance/withdraw")
                .auth(AuthLevel::Admin)
                .summary("Take money from a user's balance; 402 when it is short")
                .request_schema(schema::movement_request())
                .response_schema(schema::transaction()),
            Route::post("/admin/users/:id/balance/refund")
                .auth(AuthLevel::Admin)
                .summary("Refund (part of) a charge, renewal or withdrawal of that user")
                .request_schema(schema::refund_request())
                .response_schema(schema::transaction()),
            Route::get("/admin/logs")
                .auth(AuthLevel::Admin)
                .summary(
                    "The audit log, newest first (query: limit, offset, actorId, action, targetId)",
                )
                .response_schema(schema::audit_page()),
        ]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("GET", "/admin/tariffs") => tariffs::list(req),
            ("POST", "/admin/tariffs") => tariffs::create(req),
            ("GET", "/admin/tariffs/:id") => tariffs::get(req),
            ("PATCH", "/admin/tariffs/:id") => tariffs::update(req),
            ("DELETE", "/admin/tariffs/:id") => tariffs::delete(req),
            ("GET", "/me/balance") => balance::my_balance(req),
            ("GET", "/me/balance/transactions") => balance::my_transactions(req),
            ("GET", "/admin/users/:id/balance") => balance::user_balance(req),
            ("POST", "/admin/users/:id/balance/deposit") => balance::deposit(req),
            ("POST", "/admin/users/:id/balance/withdraw") => balance::withdraw(req),
            ("POST", "/admin/users/:id/balance/refund") => balance::refund(req),
            ("GET", "/admin/logs") => audit::list(req),
            _ => Err(req.unhandled()),
        }
    }
}

export_component!(Billing);
