//! `subscriptions`: the public subscription exports VPN clients poll (`/sub/:uuid` in v2ray,
//! Clash/mihomo and sing-box formats, cached under the content epoch), their metadata
//! (`/sub/:uuid/info`), the caller's connections (`/me/configs`), the format rules and
//! response settings, external subscription sources, and share-link parsing.
//!
//! The formats themselves are the `xray` library's (`handlers/xray`).

mod access;
mod catalog;
mod export;
mod info;
mod page;
mod parse;
mod rules;
mod settings;
mod sources;

use nexuma_sdk::{
    clock, export_component, ApiError, AuthLevel, Component, Job, Request, Response, Route,
};

const SOURCES_JOB: &str = "sources";
const SOURCES_EVERY_MS: u64 = 30_000;

struct Subscriptions;

fn admin(route: Route) -> Route {
    route.auth(AuthLevel::Admin)
}

impl Component for Subscriptions {
    fn routes() -> Vec<Route> {
        vec![
            export::documented(Route::get("/sub/:uuid"))
                .summary("The subscription: format from ?format=, else the client's User-Agent, else v2ray (HEAD and If-None-Match work)")
                .query_type::<export::Query>(),
            Route::get("/sub/:uuid/info").param::<nexuma_sdk::id::Uuid>("uuid", "The subscription link's UUID (any letter case)")
                .summary("Public metadata of a subscription: status, traffic, expiry, link names")
                .response_type::<info::Info>(),
            export::documented(Route::get("/sub/:uuid/:format"))
                .summary("The subscription in a given format: v2ray, clash (mihomo) or singbox")
                .param::<String>("format", "v2ray, clash, singbox, browser, or an alias such as mihomo or sing-box"),
            Route::get("/me/configs")
                .auth(AuthLevel::User)
                .summary("The caller's connections per link: share links and core outbounds")
                .response_type::<info::Configs>(),
            admin(Route::get("/admin/subscription-rules"))
                .summary("The ordered rules that pick a format from request headers")
                .response_type::<rules::Listing>(),
            admin(Route::put("/admin/subscription-rules"))
                .summary("Replace the format rules")
                .request_type::<rules::Body>()
                .response_type::<rules::Replaced>(),
            admin(Route::get("/admin/subscription-settings"))
                .summary("Profile title, update interval, support and web page addresses")
                .response_type::<settings::Settings>(),
            admin(Route::patch("/admin/subscription-settings"))
                .summary("Change the subscription response settings")
                .request_type::<settings::Patch>()
                .response_type::<settings::Settings>(),
            admin(Route::get("/admin/external-subscriptions"))
                .summary("External subscription sources")
                .page_of::<sources::Source>(),
            admin(Route::post("/admin/external-subscriptions"))
                .summary("Add an external subscription source (fetched on its interval)")
                .request_type::<sources::Create>()
                .response_type::<sources::Source>()
                .status(201),
            admin(Route::post("/admin/external-subscriptions/test"))
                .summary("Fetch an address now and report the entries it holds (nothing stored)")
                .request_type::<sources::TestBody>()
                .response_type::<sources::Report>(),
            admin(Route::get("/admin/external-subscriptions/:id").id_param("external source"))
                .summary("One source with its current entries")
                .response_type::<sources::Detail>(),
            admin(Route::patch("/admin/external-subscriptions/:id").id_param("external source"))
                .summary("Change a source")
                .request_type::<sources::Patch>()
                .response_type::<sources::Source>(),
            admin(Route::delete("/admin/external-subscriptions/:id").id_param("external source"))
                .summary("Delete a source no tariff lists")
                .status(204),
            admin(Route::post("/admin/external-subscriptions/:id/test").id_param("external source"))
                .summary("Fetch a source now and report the entries it holds (nothing stored)")
                .response_type::<sources::Report>(),
            admin(Route::post("/admin/external-subscriptions/:id/refresh").id_param("external source"))
                .summary("Fetch a source now and store its entries (a failure keeps the last good ones)")
                .response_type::<sources::Refreshed>(),
            admin(Route::post("/admin/xray/parse-link"))
                .summary("A share link (vless, vmess, trojan, ss) → the core's outbound JSON")
                .request_type::<parse::Body>()
                .response_type::<parse::Shown>(),
        ]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("GET", "/sub/:uuid") | ("GET", "/sub/:uuid/:format") => export::get(req),
            ("GET", "/sub/:uuid/info") => info::info(req),
            ("GET", "/me/configs") => info::configs(req),
            ("GET", "/admin/subscription-rules") => rules::get(req),
            ("PUT", "/admin/subscription-rules") => rules::put(req),
            ("GET", "/admin/subscription-settings") => settings::get(req),
            ("PATCH", "/admin/subscription-settings") => settings::patch(req),
            ("GET", "/admin/external-subscriptions") => sources::list(req),
            ("POST", "/admin/external-subscriptions") => sources::create(req),
            ("POST", "/admin/external-subscriptions/test") => sources::test_url(req),
            ("GET", "/admin/external-subscriptions/:id") => sources::get(req),
            ("PATCH", "/admin/external-subscriptions/:id") => sources::update(req),
            ("DELETE", "/admin/external-subscriptions/:id") => sources::delete(req),
            ("POST", "/admin/external-subscriptions/:id/test") => sources::test(req),
            ("POST", "/admin/external-subscriptions/:id/refresh") => sources::refresh(req),
            ("POST", "/admin/xray/parse-link") => parse::parse_link(req),
            _ => Err(req.unhandled()),
        }
    }

    fn jobs() -> Vec<Job> {
        vec![Job::every(SOURCES_JOB, SOURCES_EVERY_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        if name != SOURCES_JOB {
            return Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            ));
        }
        sources::tick(clock::now_ms())
    }
}

export_component!(Subscriptions);
