//! `manager`: the Node Manager of the second seed — VPN nodes (node agents) and their users,
//! subscriptions with share links and client outbounds, a watchdog job that keeps the nodes
//! started with every user and records traffic, and a server-rendered monitoring page.
//!
//! Agents are reached over HTTPS through the host (`x-node-auth-key`, certificate pinning);
//! everything persists in the Core's database (`migrations/*/0002_manager.sql`).

mod agent;
mod nodes;
mod page;
mod roster;
mod subscription;
mod users;
mod watchdog;

use nexuma_sdk::{export_component, ApiError, AuthLevel, Component, Endpoint, Job};

struct Manager;

impl Component for Manager {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::post("/nodes/add", nodes::add)
            .auth(AuthLevel::Admin)
            .summary("Add a node agent: checked, stored, started with all users")
            .doc(|route| route.request_type::<nodes::AddBody>().response_type::<nodes::NodeView>()),
        Endpoint::post("/nodes/del", nodes::del)
            .auth(AuthLevel::Admin)
            .summary("Stop a node agent (best effort) and forget it")
            .doc(|route| route.request_type::<nodes::DelBody>().response_type::<nodes::Deleted>()),
        Endpoint::get("/nodes", nodes::list)
            .auth(AuthLevel::Admin)
            .summary("Every node with its state and connected user count")
            .doc(|route| route.response_type::<Vec<nodes::Listed>>()),
        Endpoint::post("/users/new", users::create)
            .auth(AuthLevel::Admin)
            .summary("Create a VPN user and add it to every node that is up")
            .doc(|route| route.request_type::<users::NewBody>().response_type::<users::Created>()),
        Endpoint::post("/users/del", users::delete)
            .auth(AuthLevel::Admin)
            .summary("Remove a VPN user the Manager created from every node and delete it (409 for any other account)")
            .doc(|route| route.request_type::<users::DelBody>().response_type::<users::Deleted>()),
        Endpoint::get("/users", users::list)
            .auth(AuthLevel::Admin)
            .summary("Every VPN user with traffic per node (KiB) and totals")
            .doc(|route| route.response_type::<Vec<users::UserTraffic>>()),
        Endpoint::get("/subscription/:id", subscription::get)
            .summary("A user's connection entries: share link and client outbound per inbound")
            .doc(|route| route.id_param("user").response_type::<Vec<subscription::Entry>>()),
        Endpoint::get("/", page::index)
            .summary("Monitoring page (HTML) for administrators; a login form otherwise")
            .doc(page::documented_index),
        Endpoint::post("/ui/login", page::login)
            .summary("Form login for the monitoring page: sets the access-token cookie")
            .doc(|route| page::documented_login(route).status(303)),
        Endpoint::post("/ui/logout", page::logout)
            .summary("Clears the monitoring page's cookie")
            .doc(|route| page::documented_redirect(route).status(303)),
    ];

    fn jobs() -> Vec<Job> {
        vec![Job::every("watchdog", watchdog::INTERVAL_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            "watchdog" => watchdog::run(),
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

export_component!(Manager);
