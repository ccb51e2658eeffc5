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

use nexuma_sdk::{clock, export_component, ApiError, AuthLevel, Component, Endpoint, Job};

const SOURCES_JOB: &str = "sources";
const SOURCES_EVERY_MS: u64 = 30_000;

struct Subscriptions;

impl Component for Subscriptions {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/sub/:uuid", export::get)
            .summary("The subscription: format from ?format=, else the client's User-Agent, else v2ray (HEAD and If-None-Match work)")
            .doc(|route| export::documented(route).query_type::<export::Query>()),
        Endpoint::get("/sub/:uuid/info", info::info)
            .summary("Public metadata of a subscription: status, traffic, expiry, link names")
            .doc(|route| {
                route
                    .param::<nexuma_sdk::id::Uuid>("uuid", "The subscription link's UUID (any letter case)")
                    .response_type::<info::Info>()
            }),
        Endpoint::get("/sub/:uuid/:format", export::get)
            .summary("The subscription in a given format: v2ray, clash (mihomo) or singbox")
            .doc(|route| {
                export::documented(route)
                    .param::<String>("format", "v2ray, clash, singbox, browser, or an alias such as mihomo or sing-box")
            }),
        Endpoint::get("/me/configs", info::configs)
            .auth(AuthLevel::User)
            .summary("The caller's connections per link: share links and core outbounds")
            .doc(|route| route.response_type::<info::Configs>()),
        Endpoint::get("/admin/subscription-rules", rules::get)
            .auth(AuthLevel::Admin)
            .summary("The ordered rules that pick a format from request headers")
            .doc(|route| route.response_type::<rules::Listing>()),
        Endpoint::put("/admin/subscription-rules", rules::put)
            .auth(AuthLevel::Admin)
            .summary("Replace the format rules")
            .doc(|route| route.request_type::<rules::Body>().response_type::<rules::Replaced>()),
        Endpoint::get("/admin/subscription-settings", settings::get)
            .auth(AuthLevel::Admin)
            .summary("Profile title, update interval, support and web page addresses")
            .doc(|route| route.response_type::<settings::Settings>()),
        Endpoint::patch("/admin/subscription-settings", settings::patch)
            .auth(AuthLevel::Admin)
            .summary("Change the subscription response settings")
            .doc(|route| {
                route
                    .request_type::<settings::Patch>()
                    .response_type::<settings::Settings>()
            }),
        Endpoint::get("/admin/external-subscriptions", sources::list)
            .auth(AuthLevel::Admin)
            .summary("External subscription sources")
            .doc(|route| route.page_of::<sources::Source>()),
        Endpoint::post("/admin/external-subscriptions", sources::create)
            .auth(AuthLevel::Admin)
            .summary("Add an external subscription source (fetched on its interval)")
            .doc(|route| {
                route
                    .request_type::<sources::Create>()
                    .response_type::<sources::Source>()
                    .status(201)
            }),
        Endpoint::post("/admin/external-subscriptions/test", sources::test_url)
            .auth(AuthLevel::Admin)
            .summary("Fetch an address now and report the entries it holds (nothing stored)")
            .doc(|route| {
                route
                    .request_type::<sources::TestBody>()
                    .response_type::<sources::Report>()
            }),
        Endpoint::get("/admin/external-subscriptions/:id", sources::get)
            .auth(AuthLevel::Admin)
            .summary("One source with its current entries")
            .doc(|route| route.id_param("external source").response_type::<sources::Detail>()),
        Endpoint::patch("/admin/external-subscriptions/:id", sources::update)
            .auth(AuthLevel::Admin)
            .summary("Change a source")
            .doc(|route| {
                route
                    .id_param("external source")
                    .request_type::<sources::Patch>()
                    .response_type::<sources::Source>()
            }),
        Endpoint::delete("/admin/external-subscriptions/:id", sources::delete)
            .auth(AuthLevel::Admin)
            .summary("Delete a source no tariff lists")
            .doc(|route| route.id_param("external source").status(204)),
        Endpoint::post("/admin/external-subscriptions/:id/test", sources::test)
            .auth(AuthLevel::Admin)
            .summary("Fetch a source now and report the entries it holds (nothing stored)")
            .doc(|route| route.id_param("external source").response_type::<sources::Report>()),
        Endpoint::post("/admin/external-subscriptions/:id/refresh", sources::refresh)
            .auth(AuthLevel::Admin)
            .summary("Fetch a source now and store its entries (a failure keeps the last good ones)")
            .doc(|route| route.id_param("external source").response_type::<sources::Refreshed>()),
        Endpoint::post("/admin/xray/parse-link", parse::parse_link)
            .auth(AuthLevel::Admin)
            .summary("A share link (vless, vmess, trojan, ss) → the core's outbound JSON")
            .doc(|route| route.request_type::<parse::Body>().response_type::<parse::Shown>()),
    ];

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
