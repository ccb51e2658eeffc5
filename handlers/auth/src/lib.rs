//! `auth`: accounts and sessions — registration, login, token refresh with rotation and reuse
//! detection, Telegram login, the caller's profile, and user administration.
//!
//! Passwords are hashed and tokens signed by the host; this component keeps the rules: who may
//! log in, how failures are throttled, and which sessions end when an account changes.

mod admin;
mod credentials;
mod me;
mod session;
mod settings;
mod telegram;
mod users;
mod validate;

use nexuma_sdk::{export_component, AuthLevel, Component, Endpoint};

struct Auth;

impl Component for Auth {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::post("/auth/register", credentials::register)
            .summary("Register with email and password")
            .doc(|route| {
                route
                    .request_type::<credentials::RegisterBody>()
                    .response_type::<credentials::Registered>()
                    .status(201)
            }),
        Endpoint::post("/auth/login", credentials::login)
            .summary("Log in with email and password")
            .doc(|route| {
                route
                    .throttled("Too many sign-in attempts for this email or from this address")
                    .request_type::<credentials::LoginBody>()
                    .response_type::<session::Session>()
            }),
        Endpoint::post("/auth/refresh", credentials::refresh)
            .summary("Exchange a refresh token for a new token pair")
            .doc(|route| {
                route
                    .request_type::<credentials::RefreshBody>()
                    .response_type::<session::Session>()
            }),
        Endpoint::post("/auth/telegram", telegram::login)
            .summary("Log in or register with the Telegram Login Widget (201 when created; 501 without a bot token)")
            .doc(|route| {
                route
                    .request_type::<telegram::WidgetBody>()
                    .response_type::<session::Session>()
            }),
        Endpoint::get("/auth/telegram/bot-id", telegram::bot_id)
            .summary("The Telegram bot id for the login widget (501 without a bot token)")
            .doc(|route| route.response_type::<telegram::BotId>()),
        Endpoint::get("/me", me::get)
            .auth(AuthLevel::User)
            .summary("The caller's profile")
            .doc(|route| route.response_type::<me::OwnView>()),
        Endpoint::patch("/me/profile", me::update)
            .auth(AuthLevel::User)
            .summary("Update the caller's name, email or password")
            .doc(|route| route.request_type::<me::ProfilePatch>().response_type::<me::OwnView>()),
        Endpoint::get("/admin/users", admin::list_users)
            .auth(AuthLevel::Admin)
            .summary("List users, oldest first (query: limit, offset or after, status)")
            .doc(|route| {
                route
                    .response_type::<admin::UserPage>()
                    .query_type::<admin::UsersQuery>()
            }),
        Endpoint::get("/admin/users/:id", admin::get_user)
            .auth(AuthLevel::Admin)
            .summary("One user's profile")
            .doc(|route| route.id_param("user").response_type::<admin::AdminView>()),
        Endpoint::patch("/admin/users/:id", admin::update_user)
            .auth(AuthLevel::Admin)
            .summary("Change a user's status, block flag, role, name or email")
            .doc(|route| {
                route
                    .id_param("user")
                    .request_type::<admin::UserPatch>()
                    .response_type::<users::Profile>()
            }),
        Endpoint::get("/admin/settings", admin::get_settings)
            .auth(AuthLevel::Admin)
            .summary("Registration settings")
            .doc(|route| route.response_type::<admin::Settings>()),
        Endpoint::patch("/admin/settings", admin::update_settings)
            .auth(AuthLevel::Admin)
            .summary("Change registration settings")
            .doc(|route| {
                route
                    .request_type::<admin::Settings>()
                    .response_type::<admin::Settings>()
            }),
    ];
}

export_component!(Auth);
