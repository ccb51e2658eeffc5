//! `usage`: the read side of traffic and presence — users' own series and summary, and the
//! administrators' usage rows, user statistics and outbound series. Nothing here writes: the
//! `nodes` component records traffic (`traffic_hourly`, `outbound_traffic_hourly`) and presence
//! (`link_presence`).

mod calendar;
mod cursor;
mod filter;
mod listing;
mod outbound;
mod params;
mod presence;
mod query;
mod series;
mod span;
mod summary;
mod traffic;
mod users;

use nexuma_sdk::{export_component, ApiError, AuthLevel, Component, Request, Response, Route};

/// How every series reads a UTC hour in a local calendar.
const BUCKET_RULE: &str =
    "a UTC hour counts in the local hour or day its start falls in (in zones \
     with non-whole-hour offsets, such as Asia/Kolkata, a local bucket holds the UTC hours that \
     start inside it); DST days have 23 or 25 hours";

struct Usage;

fn user_routes() -> Vec<Route> {
    vec![
        Route::get("/me/stats")
            .auth(AuthLevel::User)
            .summary("The caller's subscriptions, traffic left, balance, links and devices online now")
            .response_type::<summary::Summary>(),
        Route::get("/me/traffic")
            .auth(AuthLevel::User)
            .summary(&format!(
                "The caller's traffic per local hour (a day, or up to 48 hours) or day (up to 366), zero-filled; {BUCKET_RULE}"
            ))
            .query_type::<query::Traffic>()
            .response_type::<series::Traffic>(),
        Route::get("/me/traffic/daily")
            .auth(AuthLevel::User)
            .summary(&format!("The caller's traffic per local day, the last `days` days, zero-filled; {BUCKET_RULE}"))
            .query_type::<query::Days>()
            .response_type::<series::Daily>(),
        Route::get("/me/traffic/hourly-dist")
            .auth(AuthLevel::User)
            .summary(&format!("When in the day the caller's traffic of the last `days` days moved: 24 local hours with their share; {BUCKET_RULE}"))
            .query_type::<query::Days>()
            .response_type::<series::HourlyDist>(),
    ]
}

fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/usage")
            .auth(AuthLevel::Admin)
            .summary("Traffic rows under filters, in time order, a keyset page at a time, with the totals of the whole filter")
            .query_type::<query::AdminUsage>()
            .response_type::<listing::Page>(),
        Route::get("/admin/users/stats")
            .auth(AuthLevel::Admin)
            .summary("Users by status, blocked, with an active subscription, new per local day and the top users by traffic")
            .query_type::<query::UsersStats>()
            .response_type::<users::Overview>(),
        Route::get("/admin/users/:id/stats").id_param("user")
            .auth(AuthLevel::Admin)
            .summary("One user's summary, traffic of today, 7 and 30 local days, links online now and last seen")
            .query_type::<query::UserStats>()
            .response_type::<users::UserStats>(),
        Route::get("/admin/nodes/:id/outbound-usage").id_param("node")
            .auth(AuthLevel::Admin)
            .summary("A node's traffic per outbound tag, per UTC hour (up to 31 days) or day (up to 366), zero-filled")
            .query_type::<query::Outbound>()
            .response_type::<outbound::Outbound>(),
    ]
}

impl Component for Usage {
    fn routes() -> Vec<Route> {
        let mut routes = user_routes();
        routes.extend(admin_routes());
        routes
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("GET", "/me/stats") => summary::me(req),
            ("GET", "/me/traffic") => series::traffic(req),
            ("GET", "/me/traffic/daily") => series::daily(req),
            ("GET", "/me/traffic/hourly-dist") => series::hourly_dist(req),
            ("GET", "/admin/usage") => listing::list(req),
            ("GET", "/admin/users/stats") => users::overview(req),
            ("GET", "/admin/users/:id/stats") => users::one(req),
            ("GET", "/admin/nodes/:id/outbound-usage") => outbound::series(req),
            _ => Err(req.unhandled()),
        }
    }
}

export_component!(Usage);
