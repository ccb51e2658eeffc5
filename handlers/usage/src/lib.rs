//! `usage`: the read side of traffic and presence — users' own series and summary, and the
//! administrators' usage rows, user statistics and outbound series — and how long hourly rows
//! are kept (`retention`: the operator's setting; `rollup`: the pass that deletes what is past
//! it). The `nodes` component records traffic (`traffic_hourly` and `traffic_daily`,
//! `outbound_traffic_hourly` and `outbound_traffic_daily`) and presence (`link_presence`).

mod calendar;
mod cursor;
mod filter;
mod listing;
mod outbound;
mod params;
mod presence;
mod query;
mod retention;
mod rollup;
mod series;
mod span;
mod summary;
mod traffic;
mod users;

use nexuma_sdk::{clock, export_component, ApiError, AuthLevel, Component, Endpoint, Job};

/// Deletes hourly rows past the retention: every minute, a bounded batch per tick, so a day's
/// hours at a large scale go in many short steps.
const ROLLUP_JOB: &str = "rollup";
const ROLLUP_EVERY_MS: u64 = 60_000;

/// How every series reads a UTC hour in a local calendar (a macro, so `concat!` can put it in
/// the summaries of the table, which is `const`).
macro_rules! bucket_rule {
    () => {
        "a UTC hour counts in the local hour or day its start falls in (in zones \
         with non-whole-hour offsets, such as Asia/Kolkata, a local bucket holds the UTC hours \
         that start inside it); DST days have 23 or 25 hours"
    };
}

struct Usage;

impl Component for Usage {
    const ROUTES: &'static [Endpoint] = &[
        // The caller's own.
        Endpoint::get("/me/stats", summary::me)
            .auth(AuthLevel::User)
            .summary("The caller's subscriptions, traffic left, balance, links and devices online now")
            .doc(|route| route.response_type::<summary::Summary>()),
        Endpoint::get("/me/traffic", series::traffic)
            .auth(AuthLevel::User)
            .summary(concat!(
                "The caller's traffic per local hour (a day, or up to 48 hours) or day (up to 366), zero-filled; ",
                bucket_rule!()
            ))
            .doc(|route| route.query_type::<query::Traffic>().response_type::<series::Traffic>()),
        Endpoint::get("/me/traffic/daily", series::daily)
            .auth(AuthLevel::User)
            .summary(concat!(
                "The caller's traffic per local day, the last `days` days, zero-filled; ",
                bucket_rule!()
            ))
            .doc(|route| route.query_type::<query::Days>().response_type::<series::Daily>()),
        Endpoint::get("/me/traffic/hourly-dist", series::hourly_dist)
            .auth(AuthLevel::User)
            .summary(concat!(
                "When in the day the caller's traffic of the last `days` days moved: 24 local hours with their share; ",
                bucket_rule!()
            ))
            .doc(|route| route.query_type::<query::Days>().response_type::<series::HourlyDist>()),
        // Administrators'.
        Endpoint::get("/admin/usage", listing::list)
            .auth(AuthLevel::Admin)
            .summary("Traffic rows under filters, in time order, a keyset page at a time, with the totals of the whole filter")
            .doc(|route| route.query_type::<query::AdminUsage>().response_type::<listing::Page>()),
        Endpoint::get("/admin/users/stats", users::overview)
            .auth(AuthLevel::Admin)
            .summary("Users by status, blocked, with an active subscription, new per local day and the top users by traffic")
            .doc(|route| {
                route
                    .query_type::<query::UsersStats>()
                    .response_type::<users::Overview>()
            }),
        Endpoint::get("/admin/users/:id/stats", users::one)
            .auth(AuthLevel::Admin)
            .summary("One user's summary, traffic of today, 7 and 30 local days, links online now and last seen")
            .doc(|route| {
                route
                    .id_param("user")
                    .query_type::<query::UserStats>()
                    .response_type::<users::UserStats>()
            }),
        Endpoint::get("/admin/nodes/:id/outbound-usage", outbound::series)
            .auth(AuthLevel::Admin)
            .summary("A node's traffic per outbound tag, per UTC hour (up to 31 days) or day (up to 366), zero-filled")
            .doc(|route| {
                route
                    .id_param("node")
                    .query_type::<query::Outbound>()
                    .response_type::<outbound::Outbound>()
            }),
        Endpoint::get("/admin/usage/settings", retention::get)
            .auth(AuthLevel::Admin)
            .summary("How long hourly traffic rows are kept (older traffic is kept per UTC day), and the first hour kept now")
            .doc(|route| route.response_type::<retention::Settings>()),
        Endpoint::patch("/admin/usage/settings", retention::update)
            .auth(AuthLevel::Admin)
            .summary("Change how long hourly traffic rows are kept")
            .doc(|route| {
                route
                    .request_type::<retention::Patch>()
                    .response_type::<retention::Settings>()
            }),
        Endpoint::post("/admin/usage/rollup", rollup::now)
            .auth(AuthLevel::Admin)
            .summary("Delete hourly traffic rows past the retention now (also every minute); the days keep every byte")
            .doc(|route| route.response_type::<rollup::Pass>()),
    ];

    fn jobs() -> Vec<Job> {
        vec![Job::every(ROLLUP_JOB, ROLLUP_EVERY_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            ROLLUP_JOB => rollup::run(clock::now_ms()).map(|_| ()),
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

export_component!(Usage);
