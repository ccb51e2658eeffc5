//! `billing`: money and access — tariffs, the balance ledger, subscriptions with their lifecycle
//! (purchase, admin activation, renewal, expiry by time or traffic, cancellation with refunds),
//! subscription links, and the audit log.
//!
//! Money is an integer of minor units (kopecks, cents). Every balance change is one database
//! transaction that moves `balances.amount` with a conditional update (never below zero), writes
//! a `balance_ledger` row with the balance it left, and an `audit_log` row. Changes nodes must
//! see go to the `node_changes` outbox. Tables: `migrations/*/0003_billing.sql`,
//! `migrations/*/0004_subscriptions.sql`.

mod audit;
mod balance;
mod ledger;
mod lifecycle;
mod links;
mod notices;
mod period;
mod query;
mod rows;
mod settings;
mod subscriptions;
mod tariffs;
mod text;

use nexuma_sdk::response::Page;
use nexuma_sdk::{
    clock, export_component, ApiError, AuthLevel, Component, Job, Request, Response, Route,
};

/// The expiry, renewal and traffic-limit pass.
const LIFECYCLE_JOB: &str = "lifecycle";
const LIFECYCLE_EVERY_MS: u64 = 2_000;

struct Billing;

impl Component for Billing {
    fn routes() -> Vec<Route> {
        vec![
            Route::get("/admin/tariffs")
                .auth(AuthLevel::Admin)
                .summary("List tariffs")
                .page_of::<tariffs::Tariff>(),
            Route::post("/admin/tariffs")
                .auth(AuthLevel::Admin)
                .summary("Create a tariff")
                .request_type::<tariffs::Create>()
                .response_type::<tariffs::Tariff>()
                .status(201),
            Route::get("/admin/tariffs/:id").id_param("tariff")
                .auth(AuthLevel::Admin)
                .summary("One tariff")
                .response_type::<tariffs::Tariff>(),
            Route::patch("/admin/tariffs/:id").id_param("tariff")
                .auth(AuthLevel::Admin)
                .summary("Change a tariff's fields (retire it with active: false)")
                .request_type::<tariffs::Patch>()
                .response_type::<tariffs::Tariff>(),
            Route::delete("/admin/tariffs/:id").id_param("tariff")
                .auth(AuthLevel::Admin)
                .summary("Delete a tariff")
                .status(204),
            Route::get("/me/balance")
                .auth(AuthLevel::User)
                .summary("The caller's balance")
                .response_type::<balance::Balance>(),
            Route::get("/me/balance/transactions")
                .auth(AuthLevel::User)
                .summary("The caller's balance transactions, newest first")
                .page_of::<ledger::Entry>(),
            Route::get("/admin/users/:id/balance").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("A user's balance")
                .response_type::<balance::Balance>(),
            Route::post("/admin/users/:id/balance/deposit").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("Add money to a user's balance (idempotency-key header or idempotencyKey)")
                .request_type::<balance::Movement>()
                .response_type::<ledger::Entry>(),
            Route::post("/admin/users/:id/balance/withdraw").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("Take money from a user's balance; 402 when it is short")
                .request_type::<balance::Movement>()
                .response_type::<ledger::Entry>(),
            Route::post("/admin/users/:id/balance/refund").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("Refund (part of) a charge, renewal or withdrawal of that user")
                .request_type::<balance::RefundBody>()
                .response_type::<ledger::Entry>(),
            Route::get("/admin/logs")
                .auth(AuthLevel::Admin)
                .summary("The audit log, newest first")
                .response_type::<Page<'static, audit::LogEntry>>()
                .query_type::<audit::LogQuery>(),
            Route::get("/admin/billing/settings")
                .auth(AuthLevel::Admin)
                .summary("Billing settings: the refund rule of users' own cancellations")
                .response_type::<settings::Settings>(),
            Route::patch("/admin/billing/settings")
                .auth(AuthLevel::Admin)
                .summary("Change billing settings")
                .request_type::<settings::Body>()
                .response_type::<settings::Settings>(),
            // Subscriptions: the caller's own.
            Route::get("/me/subscriptions")
                .auth(AuthLevel::User)
                .summary("The caller's subscriptions with their links, newest first")
                .response_type::<Page<'static, subscriptions::Subscription>>()
                .query_type::<subscriptions::ListQuery>(),
            Route::post("/me/subscriptions")
                .auth(AuthLevel::User)
                .summary("Buy a tariff from the balance (402 when it is short; idempotency-key header or idempotencyKey)")
                .request_type::<subscriptions::PurchaseBody>()
                .response_type::<subscriptions::Subscription>()
                .status(201),
            Route::patch("/me/subscriptions/:id/auto-renew").id_param("subscription")
                .auth(AuthLevel::User)
                .summary("Turn auto-renewal on or off ({autoRenew}; an empty body toggles it)")
                .request_type::<subscriptions::AutoRenewBody>()
                .response_type::<subscriptions::Subscription>(),
            Route::post("/me/subscriptions/:id/cancel").id_param("subscription")
                .auth(AuthLevel::User)
                .summary("Cancel a subscription now, refunded by the operator's rule")
                .response_type::<lifecycle::CancelReply>(),
            Route::post("/me/subscriptions/:id/reset").id_param("subscription")
                .auth(AuthLevel::User)
                .summary("New UUID for a link (:id a link), or for every link of a subscription (:id a subscription); the old UUIDs stop working at once")
                .response_type::<links::ResetReply>(),
            // Links: the caller's own.
            Route::get("/me/links")
                .auth(AuthLevel::User)
                .summary("The caller's subscription links")
                .response_type::<Page<'static, links::Link>>()
                .query_type::<links::ListQuery>(),
            Route::post("/me/links")
                .auth(AuthLevel::User)
                .summary("Create a link on an active subscription (the only active one when subscriptionId is left out)")
                .request_type::<links::CreateBody>()
                .response_type::<links::Link>()
                .status(201),
            Route::patch("/me/subscriptions/links/:id").id_param("link")
                .auth(AuthLevel::User)
                .summary("Rename, enable, disable or narrow a link's protocols and nodes")
                .request_type::<links::LinkFields>()
                .response_type::<links::Link>(),
            Route::delete("/me/subscriptions/links/:id").id_param("link")
                .auth(AuthLevel::User)
                .summary("Delete a link")
                .status(204),
            // Subscriptions: admin.
            Route::get("/admin/subscriptions")
                .auth(AuthLevel::Admin)
                .summary("Subscriptions with their links, newest first")
                .response_type::<Page<'static, subscriptions::Subscription>>()
                .query_type::<subscriptions::AdminListQuery>(),
            Route::post("/admin/subscriptions")
                .auth(AuthLevel::Admin)
                .summary("Activate a tariff for a user, free or charged to the balance (charge: true)")
                .request_type::<subscriptions::ActivateBody>()
                .response_type::<subscriptions::Subscription>()
                .status(201),
            Route::post("/admin/subscriptions/tick")
                .auth(AuthLevel::Admin)
                .summary("Run the expiry, renewal and traffic-limit checks now (the scheduler runs them every 2 s)")
                .response_type::<lifecycle::TickReport>(),
            Route::get("/admin/subscriptions/:id").id_param("subscription")
                .auth(AuthLevel::Admin)
                .summary("One subscription with its links")
                .response_type::<subscriptions::Subscription>(),
            Route::patch("/admin/subscriptions/:id").id_param("subscription")
                .auth(AuthLevel::Admin)
                .summary("Change auto-renewal, expiry, traffic limit or usage, or expire / reactivate")
                .request_type::<subscriptions::AdminPatch>()
                .response_type::<subscriptions::Subscription>(),
            Route::post("/admin/subscriptions/:id/cancel").id_param("subscription")
                .auth(AuthLevel::Admin)
                .summary("Cancel a subscription now with a refund rule (none, prorata, full)")
                .request_type::<subscriptions::CancelBody>()
                .response_type::<lifecycle::CancelReply>(),
            Route::post("/admin/subscriptions/:id/links").id_param("subscription")
                .auth(AuthLevel::Admin)
                .summary("Add a link to a subscription")
                .request_type::<links::LinkFields>()
                .response_type::<links::Link>()
                .status(201),
            Route::patch("/admin/subscriptions/links/:id").id_param("link")
                .auth(AuthLevel::Admin)
                .summary("Rename, enable, disable or narrow any link")
                .request_type::<links::LinkFields>()
                .response_type::<links::Link>(),
            Route::delete("/admin/subscriptions/links/:id").id_param("link")
                .auth(AuthLevel::Admin)
                .summary("Delete any link")
                .status(204),
            Route::post("/admin/subscriptions/links/:id/reset").id_param("link")
                .auth(AuthLevel::Admin)
                .summary("New UUID for a link; the old one stops working at once")
                .response_type::<links::ResetReply>(),
        ]
    }

    fn jobs() -> Vec<Job> {
        vec![Job::every(LIFECYCLE_JOB, LIFECYCLE_EVERY_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        if name != LIFECYCLE_JOB {
            return Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            ));
        }
        let report = lifecycle::tick(clock::now_ms())?;
        if report.failed > 0 {
            return Err(ApiError::internal(format!(
                "{} of {} due subscriptions could not be settled",
                report.failed, report.due
            )));
        }
        Ok(())
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
            ("GET", "/admin/billing/settings") => settings::get(req),
            ("PATCH", "/admin/billing/settings") => settings::update(req),
            ("GET", "/me/subscriptions") => subscriptions::my_list(req),
            ("POST", "/me/subscriptions") => subscriptions::purchase(req),
            ("PATCH", "/me/subscriptions/:id/auto-renew") => subscriptions::set_auto_renew(req),
            ("POST", "/me/subscriptions/:id/cancel") => subscriptions::my_cancel(req),
            ("POST", "/me/subscriptions/:id/reset") => links::reset(req),
            ("GET", "/me/links") => links::my_list(req),
            ("POST", "/me/links") => links::my_create(req),
            ("PATCH", "/me/subscriptions/links/:id") => links::update(req),
            ("DELETE", "/me/subscriptions/links/:id") => links::delete(req),
            ("GET", "/admin/subscriptions") => subscriptions::admin_list(req),
            ("POST", "/admin/subscriptions") => subscriptions::admin_activate(req),
            ("POST", "/admin/subscriptions/tick") => subscriptions::admin_tick(req),
            ("GET", "/admin/subscriptions/:id") => subscriptions::admin_get(req),
            ("PATCH", "/admin/subscriptions/:id") => subscriptions::admin_update(req),
            ("POST", "/admin/subscriptions/:id/cancel") => subscriptions::admin_cancel(req),
            ("POST", "/admin/subscriptions/:id/links") => links::admin_create(req),
            ("PATCH", "/admin/subscriptions/links/:id") => links::update(req),
            ("DELETE", "/admin/subscriptions/links/:id") => links::delete(req),
            ("POST", "/admin/subscriptions/links/:id/reset") => links::reset(req),
            _ => Err(req.unhandled()),
        }
    }
}

export_component!(Billing);
