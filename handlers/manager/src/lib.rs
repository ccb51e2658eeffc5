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

use nexuma_sdk::{export_component, ApiError, AuthLevel, Component, Job, Request, Response, Route};

struct Manager;

impl Component for Manager {
    fn routes() -> Vec<Route> {
        vec![
            Route::post("/nodes/add")
                .auth(AuthLevel::Admin)
                .summary("Add a node agent: checked, stored, started with all users")
                .request_type::<nodes::AddBody>()
                .response_type::<nodes::NodeView>(),
            Route::post("/nodes/del")
                .auth(AuthLevel::Admin)
                .summary("Stop a node agent (best effort) and forget it")
                .request_type::<nodes::DelBody>()
                .response_type::<nodes::Deleted>(),
            Route::get("/nodes")
                .auth(AuthLevel::Admin)
                .summary("Every node with its state and connected user count")
                .response_type::<Vec<nodes::Listed>>(),
            Route::post("/users/new")
                .auth(AuthLevel::Admin)
                .summary("Create a VPN user and add it to every node that is up")
                .request_type::<users::NewBody>()
                .response_type::<users::Created>(),
            Route::post("/users/del")
                .auth(AuthLevel::Admin)
                .summary("Remove a VPN user the Manager created from every node and delete it (409 for any other account)")
                .request_type::<users::DelBody>()
                .response_type::<users::Deleted>(),
            Route::get("/users")
                .auth(AuthLevel::Admin)
                .summary("Every VPN user with traffic per node (KiB) and totals")
                .response_type::<Vec<users::UserTraffic>>(),
            Route::get("/subscription/:id").id_param("user")
                .summary("A user's connection entries: share link and client outbound per inbound")
                .response_type::<Vec<subscription::Entry>>(),
            page::documented_index(Route::get("/"))
                .summary("Monitoring page (HTML) for administrators; a login form otherwise"),
            page::documented_login(Route::post("/ui/login"))
                .summary("Form login for the monitoring page: sets the access-token cookie")
                .status(303),
            page::documented_redirect(Route::post("/ui/logout"))
                .summary("Clears the monitoring page's cookie")
                .status(303),
        ]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("POST", "/nodes/add") => nodes::add(req),
            ("POST", "/nodes/del") => nodes::del(req),
            ("GET", "/nodes") => nodes::list(req),
            ("POST", "/users/new") => users::create(req),
            ("POST", "/users/del") => users::delete(req),
            ("GET", "/users") => users::list(req),
            ("GET", "/subscription/:id") => subscription::get(req),
            ("GET", "/") => page::index(req),
            ("POST", "/ui/login") => page::login(req),
            ("POST", "/ui/logout") => page::logout(req),
            _ => Err(req.unhandled()),
        }
    }

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
