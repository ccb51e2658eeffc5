//! `auth`: accounts and sessions — registration, login, token refresh with rotation and reuse
//! detection, Telegram login, the caller's profile, and user administration.
//!
//! Passwords are hashed and tokens signed by the host; this component keeps the rules: who may
//! log in, how failures are throttled, and which sessions end when an account changes.

mod admin;
mod credentials;
mod cursor;
mod me;
mod session;
mod settings;
mod telegram;
mod users;
mod validate;

use nexuma_sdk::{export_component, ApiError, AuthLevel, Component, Request, Response, Route};

struct Auth;

impl Component for Auth {
    fn routes() -> Vec<Route> {
        vec![
            Route::post("/auth/register")
                .summary("Register with email and password")
                .request_type::<credentials::RegisterBody>()
                .response_type::<credentials::Registered>()
                .status(201),
            Route::post("/auth/login").throttled("Too many sign-in attempts for this email or from this address")
                .summary("Log in with email and password")
                .request_type::<credentials::LoginBody>()
                .response_type::<session::Session>(),
            Route::post("/auth/refresh")
                .summary("Exchange a refresh token for a new token pair")
                .request_type::<credentials::RefreshBody>()
                .response_type::<session::Session>(),
            Route::post("/auth/telegram")
                .summary("Log in or register with the Telegram Login Widget (201 when created; 501 without a bot token)")
                .request_type::<telegram::WidgetBody>()
                .response_type::<session::Session>(),
            Route::get("/auth/telegram/bot-id")
                .summary("The Telegram bot id for the login widget (501 without a bot token)")
                .response_type::<telegram::BotId>(),
            Route::get("/me")
                .auth(AuthLevel::User)
                .summary("The caller's profile")
                .response_type::<me::OwnView>(),
            Route::patch("/me/profile")
                .auth(AuthLevel::User)
                .summary("Update the caller's name, email or password")
                .request_type::<me::ProfilePatch>()
                .response_type::<me::OwnView>(),
            Route::get("/admin/users")
                .auth(AuthLevel::Admin)
                .summary("List users, oldest first (query: limit, offset or after, status)")
                .response_type::<admin::UserPage>()
                .query_type::<admin::UsersQuery>(),
            Route::get("/admin/users/:id").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("One user's profile")
                .response_type::<admin::AdminView>(),
            Route::patch("/admin/users/:id").id_param("user")
                .auth(AuthLevel::Admin)
                .summary("Change a user's status, block flag, role, name or email")
                .request_type::<admin::UserPatch>()
                .response_type::<users::Profile>(),
            Route::get("/admin/settings")
                .auth(AuthLevel::Admin)
                .summary("Registration settings")
                .response_type::<admin::Settings>(),
            Route::patch("/admin/settings")
                .auth(AuthLevel::Admin)
                .summary("Change registration settings")
                .request_type::<admin::Settings>()
                .response_type::<admin::Settings>(),
        ]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("POST", "/auth/register") => credentials::register(req),
            ("POST", "/auth/login") => credentials::login(req),
            ("POST", "/auth/refresh") => credentials::refresh(req),
            ("POST", "/auth/telegram") => telegram::login(req),
            ("GET", "/auth/telegram/bot-id") => telegram::bot_id(req),
            ("GET", "/me") => me::get(req),
            ("PATCH", "/me/profile") => me::update(req),
            ("GET", "/admin/users") => admin::list_users(req),
            ("GET", "/admin/users/:id") => admin::get_user(req),
            ("PATCH", "/admin/users/:id") => admin::update_user(req),
            ("GET", "/admin/settings") => admin::get_settings(req),
            ("PATCH", "/admin/settings") => admin::update_settings(req),
            _ => Err(req.unhandled()),
        }
    }
}

export_component!(Auth);
