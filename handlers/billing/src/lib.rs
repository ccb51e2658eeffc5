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
mod summary;
mod tariffs;
mod text;

use nexuma_sdk::response::Page;
use nexuma_sdk::{clock, export_component, ApiError, AuthLevel, Component, Endpoint, Job};

/// The expiry, renewal and traffic-limit pass.
const LIFECYCLE_JOB: &str = "lifecycle";
const LIFECYCLE_EVERY_MS: u64 = 2_000;

struct Billing;

impl Component for Billing {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/admin/tariffs", tariffs::list)
            .auth(AuthLevel::Admin)
            .summary("List tariffs")
            .doc(|route| route.page_of::<tariffs::Tariff>()),
        Endpoint::post("/admin/tariffs", tariffs::create)
            .auth(AuthLevel::Admin)
            .summary("Create a tariff")
            .doc(|route| {
                route
                    .request_type::<tariffs::Create>()
                    .response_type::<tariffs::Tariff>()
                    .status(201)
            }),
        Endpoint::get("/admin/tariffs/:id", tariffs::get)
            .auth(AuthLevel::Admin)
            .summary("One tariff")
            .doc(|route| route.id_param("tariff").response_type::<tariffs::Tariff>()),
        Endpoint::patch("/admin/tariffs/:id", tariffs::update)
            .auth(AuthLevel::Admin)
            .summary("Change a tariff's fields (retire it with active: false)")
            .doc(|route| {
                route
                    .id_param("tariff")
                    .request_type::<tariffs::Patch>()
                    .response_type::<tariffs::Tariff>()
            }),
        Endpoint::delete("/admin/tariffs/:id", tariffs::delete)
            .auth(AuthLevel::Admin)
            .summary("Delete a tariff")
            .doc(|route| route.id_param("tariff").status(204)),
        Endpoint::get("/me/balance", balance::my_balance)
            .auth(AuthLevel::User)
            .summary("The caller's balance")
            .doc(|route| route.response_type::<balance::Balance>()),
        Endpoint::get("/me/balance/transactions", balance::my_transactions)
            .auth(AuthLevel::User)
            .summary("The caller's balance transactions, newest first")
            .doc(|route| route.page_of::<ledger::Entry>()),
        Endpoint::get("/admin/users/:id/balance", balance::user_balance)
            .auth(AuthLevel::Admin)
            .summary("A user's balance")
            .doc(|route| route.id_param("user").response_type::<balance::Balance>()),
        Endpoint::get("/admin/users/:id/balance/transactions", balance::user_transactions)
            .auth(AuthLevel::Admin)
            .summary("A user's balance transactions, newest first")
            .doc(|route| route.id_param("user").page_of::<ledger::Entry>()),
        Endpoint::post("/admin/users/:id/balance/deposit", balance::deposit)
            .auth(AuthLevel::Admin)
            .summary("Add money to a user's balance (idempotency-key header or idempotencyKey)")
            .doc(|route| {
                route
                    .id_param("user")
                    .request_type::<balance::Movement>()
                    .response_type::<ledger::Entry>()
            }),
        Endpoint::post("/admin/users/:id/balance/withdraw", balance::withdraw)
            .auth(AuthLevel::Admin)
            .summary("Take money from a user's balance; 402 when it is short")
            .doc(|route| {
                route
                    .id_param("user")
                    .request_type::<balance::Movement>()
                    .response_type::<ledger::Entry>()
            }),
        Endpoint::post("/admin/users/:id/balance/refund", balance::refund)
            .auth(AuthLevel::Admin)
            .summary("Refund (part of) a charge, renewal or withdrawal of that user")
            .doc(|route| {
                route
                    .id_param("user")
                    .request_type::<balance::RefundBody>()
                    .response_type::<ledger::Entry>()
            }),
        Endpoint::get("/admin/logs", audit::list)
            .auth(AuthLevel::Admin)
            .summary("The audit log, newest first (query: limit, offset or after, filters)")
            .doc(|route| {
                route
                    .response_type::<audit::LogPage>()
                    .query_type::<audit::LogQuery>()
            }),
        Endpoint::get("/admin/billing/summary", summary::get)
            .auth(AuthLevel::Admin)
            .summary("Money per UTC day over the last days: deposits, sales (charges and renewals), refunds, withdrawals")
            .doc(|route| {
                route
                    .response_type::<summary::Summary>()
                    .query_type::<summary::SummaryQuery>()
            }),
        Endpoint::get("/admin/billing/settings", settings::get)
            .auth(AuthLevel::Admin)
            .summary("Billing settings: the refund rule of users' own cancellations")
            .doc(|route| route.response_type::<settings::Settings>()),
        Endpoint::patch("/admin/billing/settings", settings::update)
            .auth(AuthLevel::Admin)
            .summary("Change billing settings")
            .doc(|route| {
                route
                    .request_type::<settings::Body>()
                    .response_type::<settings::Settings>()
            }),
        // Subscriptions: the caller's own.
        Endpoint::get("/me/subscriptions", subscriptions::my_list)
            .auth(AuthLevel::User)
            .summary("The caller's subscriptions with their links, newest first")
            .doc(|route| {
                route
                    .response_type::<Page<'static, subscriptions::Subscription>>()
                    .query_type::<subscriptions::ListQuery>()
            }),
        Endpoint::post("/me/subscriptions", subscriptions::purchase)
            .auth(AuthLevel::User)
            .summary("Buy a tariff from the balance (402 when it is short; idempotency-key header or idempotencyKey)")
            .doc(|route| {
                route
                    .request_type::<subscriptions::PurchaseBody>()
                    .response_type::<subscriptions::Subscription>()
                    .status(201)
            }),
        Endpoint::patch("/me/subscriptions/:id/auto-renew", subscriptions::set_auto_renew)
            .auth(AuthLevel::User)
            .summary("Turn auto-renewal on or off ({autoRenew}; an empty body toggles it)")
            .doc(|route| {
                route
                    .id_param("subscription")
                    .request_type::<subscriptions::AutoRenewBody>()
                    .response_type::<subscriptions::Subscription>()
            }),
        Endpoint::post("/me/subscriptions/:id/cancel", subscriptions::my_cancel)
            .auth(AuthLevel::User)
            .summary("Cancel a subscription now, refunded by the operator's rule")
            .doc(|route| route.id_param("subscription").response_type::<lifecycle::CancelReply>()),
        Endpoint::post("/me/subscriptions/:id/reset", links::reset)
            .auth(AuthLevel::User)
            .summary("New UUID for a link (:id a link), or for every link of a subscription (:id a subscription); the old UUIDs stop working at once")
            .doc(|route| route.id_param("subscription").response_type::<links::ResetReply>()),
        // Links: the caller's own.
        Endpoint::get("/me/links", links::my_list)
            .auth(AuthLevel::User)
            .summary("The caller's subscription links")
            .doc(|route| {
                route
                    .response_type::<Page<'static, links::Link>>()
                    .query_type::<links::ListQuery>()
            }),
        Endpoint::post("/me/links", links::my_create)
            .auth(AuthLevel::User)
            .summary("Create a link on an active subscription (the only active one when subscriptionId is left out)")
            .doc(|route| {
                route
                    .request_type::<links::CreateBody>()
                    .response_type::<links::Link>()
                    .status(201)
            }),
        Endpoint::patch("/me/subscriptions/links/:id", links::update)
            .auth(AuthLevel::User)
            .summary("Rename, enable, disable or narrow a link's protocols and nodes")
            .doc(|route| {
                route
                    .id_param("link")
                    .request_type::<links::LinkFields>()
                    .response_type::<links::Link>()
            }),
        Endpoint::delete("/me/subscriptions/links/:id", links::delete)
            .auth(AuthLevel::User)
            .summary("Delete a link")
            .doc(|route| route.id_param("link").status(204)),
        // Subscriptions: admin.
        Endpoint::get("/admin/subscriptions", subscriptions::admin_list)
            .auth(AuthLevel::Admin)
            .summary("Subscriptions with their links, newest first (query: limit, offset or after, filters)")
            .doc(|route| {
                route
                    .response_type::<subscriptions::AdminPage>()
                    .query_type::<subscriptions::AdminListQuery>()
            }),
        Endpoint::post("/admin/subscriptions", subscriptions::admin_activate)
            .auth(AuthLevel::Admin)
            .summary("Activate a tariff for a user, free or charged to the balance (charge: true)")
            .doc(|route| {
                route
                    .request_type::<subscriptions::ActivateBody>()
                    .response_type::<subscriptions::Subscription>()
                    .status(201)
            }),
        Endpoint::post("/admin/subscriptions/tick", subscriptions::admin_tick)
            .auth(AuthLevel::Admin)
            .summary("Run the expiry, renewal and traffic-limit checks now (the scheduler runs them every 2 s)")
            .doc(|route| route.response_type::<lifecycle::TickReport>()),
        Endpoint::get("/admin/subscriptions/:id", subscriptions::admin_get)
            .auth(AuthLevel::Admin)
            .summary("One subscription with its links")
            .doc(|route| {
                route
                    .id_param("subscription")
                    .response_type::<subscriptions::Subscription>()
            }),
        Endpoint::patch("/admin/subscriptions/:id", subscriptions::admin_update)
            .auth(AuthLevel::Admin)
            .summary("Change auto-renewal, expiry, traffic limit or usage, or expire / reactivate")
            .doc(|route| {
                route
                    .id_param("subscription")
                    .request_type::<subscriptions::AdminPatch>()
                    .response_type::<subscriptions::Subscription>()
            }),
        Endpoint::post("/admin/subscriptions/:id/cancel", subscriptions::admin_cancel)
            .auth(AuthLevel::Admin)
            .summary("Cancel a subscription now with a refund rule (none, prorata, full)")
            .doc(|route| {
                route
                    .id_param("subscription")
                    .request_type::<subscriptions::CancelBody>()
                    .response_type::<lifecycle::CancelReply>()
            }),
        Endpoint::post("/admin/subscriptions/:id/links", links::admin_create)
            .auth(AuthLevel::Admin)
            .summary("Add a link to a subscription")
            .doc(|route| {
                route
                    .id_param("subscription")
                    .request_type::<links::LinkFields>()
                    .response_type::<links::Link>()
                    .status(201)
            }),
        Endpoint::patch("/admin/subscriptions/links/:id", links::update)
            .auth(AuthLevel::Admin)
            .summary("Rename, enable, disable or narrow any link")
            .doc(|route| {
                route
                    .id_param("link")
                    .request_type::<links::LinkFields>()
                    .response_type::<links::Link>()
            }),
        Endpoint::delete("/admin/subscriptions/links/:id", links::delete)
            .auth(AuthLevel::Admin)
            .summary("Delete any link")
            .doc(|route| route.id_param("link").status(204)),
        Endpoint::post("/admin/subscriptions/links/:id/reset", links::reset)
            .auth(AuthLevel::Admin)
            .summary("New UUID for a link; the old one stops working at once")
            .doc(|route| route.id_param("link").response_type::<links::ResetReply>()),
    ];

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
}

export_component!(Billing);
