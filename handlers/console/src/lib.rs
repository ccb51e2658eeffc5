//! `console`: the operator's web console under `/console` — server-rendered pages over the
//! Core's own API, which it calls in-process (`nexuma:core/api`) as the admin using it, so every
//! rule and every validation message stays with the route that owns it.
//!
//! Signing in goes through `/auth/login`; the session is the host's access-token cookie, renewed
//! on every page; every form carries the admin's form token (`session.rs`). No script, no asset
//! from elsewhere; pages work from a phone's width up (`page.rs`).

mod audit;
mod call;
mod chart;
mod components;
mod dashboard;
mod form;
mod inbound;
mod ledger;
mod login;
mod nodes;
mod page;
mod routing;
mod session;
mod settings;
mod subscription;
mod subscriptions;
mod tariffs;
mod traffic;
mod user;
mod users;

use nexuma_sdk::{export_component, html, ApiError, Component, Endpoint, Request, Response, Route};

struct Console;

impl Component for Console {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/console", dashboard)
            .summary("Console: the dashboard (HTML; the sign-in form without a session)")
            .doc(documented_page),
        Endpoint::get("/console/login", login_form)
            .summary("Console: the sign-in form (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/login", login_submit)
            .summary("Console: signs an administrator in through /auth/login and sets the session cookie")
            .doc(documented_form),
        Endpoint::post("/console/logout", logout)
            .summary("Console: signs out (clears the session cookie)")
            .doc(documented_form),
        Endpoint::get("/console/users", users_list)
            .summary("Console: users by state, a page at a time (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/users/:id", users_act)
            .summary("Console: approve, reject, block or unblock a user (form)")
            .doc(|route| documented_form(route.id_param("user"))),
        Endpoint::get("/console/users/:id", user_show)
            .summary("Console: one user — profile, balance, subscriptions and their links (HTML)")
            .doc(|route| documented_page(route.id_param("user"))),
        Endpoint::post("/console/users/:id/subscriptions", user_activate)
            .summary("Console: activates a subscription for a user (form)")
            .doc(|route| documented_form(route.id_param("user"))),
        Endpoint::post("/console/users/:id/subscriptions/:sub/cancel", subscription_cancel)
            .summary("Console: cancels a subscription with the refund rule chosen on a confirmation (form)")
            .doc(|route| {
                documented_form(route.id_param("user").param::<nexuma_sdk::id::Uuid>("sub", "The subscription's id"))
            }),
        Endpoint::post("/console/users/:id/links/:link/:action", link_action)
            .summary("Console: resets (after a confirmation), disables or enables a link (form)")
            .doc(|route| {
                documented_form(
                    route
                        .id_param("user")
                        .param::<nexuma_sdk::id::Uuid>("link", "The link's id")
                        .param::<String>("action", "reset, disable or enable"),
                )
            }),
        Endpoint::post("/console/users/:id/edit", user_edit)
            .summary("Console: saves a user's name, email and role (form)")
            .doc(|route| documented_form(route.id_param("user"))),
        Endpoint::post("/console/users/:id/refund", user_refund)
            .summary("Console: refunds (part of) a user's charge, renewal or withdrawal after a confirmation (form)")
            .doc(|route| documented_form(route.id_param("user"))),
        Endpoint::post("/console/users/:id/balance", user_balance)
            .summary("Console: a deposit to or a withdrawal from a user's balance (form)")
            .doc(|route| documented_form(route.id_param("user"))),
        Endpoint::get("/console/nodes", nodes_list)
            .summary("Console: the nodes and the form to create one (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/nodes", nodes_create)
            .summary("Console: creates a node with its first inbound (form)")
            .doc(documented_form),
        Endpoint::get("/console/nodes/:id", node_show)
            .summary("Console: one node — state, config, inbounds, registration (HTML)")
            .doc(|route| documented_page(route.id_param("node"))),
        Endpoint::post("/console/nodes/:id/code", node_code)
            .summary("Console: makes a one-time registration code and shows the command to run (form)")
            .doc(|route| documented_form(route.id_param("node"))),
        Endpoint::post("/console/nodes/:id/ops/:op", node_operate)
            .summary("Console: asks a node's agent to apply its config again or restart its core, or revokes its keys, after a confirmation (form)")
            .doc(|route| {
                documented_form(
                    route
                        .id_param("node")
                        .param::<String>("op", "resync, restart-core or revoke-keys"),
                )
            }),
        Endpoint::post("/console/nodes/:id/routing", node_routing)
            .summary("Console: saves a node's rule sets, domain strategy, own rules and outbounds (form)")
            .doc(|route| documented_form(route.id_param("node"))),
        Endpoint::get("/console/routing", routing_list)
            .summary("Console: the routing rule sets nodes share (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/routing", routing_create)
            .summary("Console: creates a routing rule set (form)")
            .doc(documented_form),
        Endpoint::post("/console/routing/:id", routing_update)
            .summary("Console: saves a routing rule set (form)")
            .doc(|route| documented_form(route.id_param("rule set"))),
        Endpoint::post("/console/routing/:id/delete", routing_delete)
            .summary("Console: deletes a routing rule set after a confirmation (form)")
            .doc(|route| documented_form(route.id_param("rule set"))),
        Endpoint::post("/console/nodes/:id/inbounds", node_add_inbound)
            .summary("Console: adds an inbound to a node (form)")
            .doc(|route| documented_form(route.id_param("node"))),
        Endpoint::post("/console/nodes/:id/inbounds/remove", node_remove_inbound)
            .summary("Console: removes an inbound from a node after a confirmation (form)")
            .doc(|route| documented_form(route.id_param("node"))),
        Endpoint::get("/console/audit", audit_list)
            .summary("Console: the audit log, filtered, a page at a time (HTML)")
            .doc(documented_page),
        Endpoint::get("/console/components", components_list)
            .summary("Console: the components, their versions and a canary's progress (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/components/:name/:action", components_act)
            .summary("Console: activate, try as a canary, promote or roll back a component version after a confirmation (form)")
            .doc(|route| {
                documented_form(
                    route
                        .param::<String>("name", "The component's name")
                        .param::<String>("action", "activate, canary, promote or rollback"),
                )
            }),
        Endpoint::get("/console/settings", settings_show)
            .summary("Console: registration approval, cancellation refunds, format rules, notification texts (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/settings", settings_save)
            .summary("Console: saves one part of the settings (form)")
            .doc(documented_form),
        Endpoint::get("/console/subscriptions", subscriptions_list)
            .summary("Console: every subscription, filtered by state and tariff, a page at a time (HTML)")
            .doc(documented_page),
        Endpoint::get("/console/tariffs", tariffs_list)
            .summary("Console: the tariffs and the form to create one (HTML)")
            .doc(documented_page),
        Endpoint::post("/console/tariffs", tariffs_create)
            .summary("Console: creates a tariff (form)")
            .doc(documented_form),
        Endpoint::get("/console/tariffs/:id", tariff_show)
            .summary("Console: a tariff's form, to change it or take it off sale (HTML)")
            .doc(|route| documented_page(route.id_param("tariff"))),
        Endpoint::post("/console/tariffs/:id", tariff_update)
            .summary("Console: saves a tariff (form)")
            .doc(|route| documented_form(route.id_param("tariff"))),
        Endpoint::post("/console/tariffs/:id/delete", tariffs_delete)
            .summary("Console: deletes a tariff after a confirmation (form)")
            .doc(|route| documented_form(route.id_param("tariff"))),
    ];
}

/// A page's answer: an error the console did not turn into a page itself is one too, with its
/// status and message, so a browser never gets a JSON error.
fn shown(result: Result<Response, ApiError>) -> Result<Response, ApiError> {
    Ok(result.unwrap_or_else(page::failure))
}

/// Route handlers, each answering only once its caller may see the console — an admin for a
/// page, an admin whose form carries this session's token for a form (`session.rs`); anyone
/// else gets the sign-in form or a refusal — and every error shown as a page ([`shown`]).
macro_rules! routes {
    (public: $($public:ident => $open:path),* ;
     pages: $($page:ident => $show:path),* ;
     forms: $($form:ident => $act:path),* $(,)?) => {
        $(fn $public(req: &Request) -> Result<Response, ApiError> {
            shown($open(req))
        })*
        $(fn $page(req: &Request) -> Result<Response, ApiError> {
            shown(match session::admin(req) {
                Ok(admin) => $show(req, &admin),
                Err(page) => Ok(page),
            })
        })*
        $(fn $form(req: &Request) -> Result<Response, ApiError> {
            let fields = form::Form::of(req);
            shown(match session::admin_posting(req, &fields) {
                Ok(admin) => $act(req, &admin, &fields),
                Err(page) => Ok(page),
            })
        })*
    };
}

routes! {
    public:
    login_form => login::show,
    login_submit => login::submit;
    pages:
    dashboard => dashboard::show,
    users_list => users::list,
    user_show => user::show,
    subscriptions_list => subscriptions::list,
    nodes_list => nodes::list,
    node_show => nodes::show,
    routing_list => routing::list,
    audit_list => audit::list,
    components_list => components::list,
    settings_show => settings::show,
    tariffs_list => tariffs::list,
    tariff_show => tariffs::show;
    forms:
    logout => login::logout,
    users_act => users::act,
    user_activate => user::activate,
    user_balance => user::move_balance,
    user_edit => user::edit,
    user_refund => ledger::refund,
    subscription_cancel => subscription::cancel,
    link_action => subscription::link_action,
    nodes_create => nodes::create,
    node_code => nodes::code,
    node_operate => nodes::operate,
    node_routing => nodes::save_routing,
    node_add_inbound => nodes::add_inbound,
    node_remove_inbound => nodes::remove_inbound,
    routing_create => routing::save,
    routing_update => routing::save,
    routing_delete => routing::delete,
    components_act => components::act,
    settings_save => settings::save,
    tariffs_create => tariffs::create,
    tariffs_delete => tariffs::delete,
    tariff_update => tariffs::update,
}

fn page_schema() -> serde_json::Value {
    serde_json::json!({ "type": "string", "description": "an HTML page" })
}

/// What a console page or form may answer besides its success, each an HTML page saying why.
const REFUSALS: [(u16, &str); 8] = [
    (
        400,
        "Something sent is not what the form takes: the page again with the reason",
    ),
    (401, "Wrong credentials: the form again"),
    (402, "The balance is short: the page again with the reason"),
    (
        403,
        "An account that is not an administrator, or a form without this session's token",
    ),
    (404, "No such user, node, tariff or component"),
    (
        409,
        "The change clashes with the current state (a tariff in use, say): the reason",
    ),
    (
        429,
        "Too many sign-in attempts (Retry-After says how long to wait)",
    ),
    (508, "In-process calls nested too deeply"),
];

fn with_refusals(route: Route) -> Route {
    REFUSALS.into_iter().fold(route, |route, (status, when)| {
        route.other_answer(status, when, html::MEDIA_TYPE, page_schema())
    })
}

/// A console page: HTML, or a 303 to the sign-in form.
fn documented_page(route: Route) -> Route {
    with_refusals(
        route
            .media(html::MEDIA_TYPE, page_schema())
            .redirect_answer(303, "No session (or an expired one): to the sign-in form"),
    )
}

/// A console form's POST: a 303 to the page to show next; a confirmation, or a page with what
/// was made (a registration code), as a 200; or the page again with the reason.
fn documented_form(route: Route) -> Route {
    let form =
        serde_json::json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let route = route
        .request_media("application/x-www-form-urlencoded", form)
        .header::<String>("location", "The page to show next")
        .status(303)
        .other_answer(
            200,
            "A confirmation to give, or a page showing what was made",
            html::MEDIA_TYPE,
            page_schema(),
        );
    with_refusals(route)
}

export_component!(Console);
