//! `notify`: Telegram notifications. Components write messages to the `notifications` outbox
//! in the transaction of their event (SDK `notify`); this component sends them (`send` job),
//! writes the events that are the passing of time (`scan` job: subscriptions about to end,
//! silent nodes), clears old rows (`housekeeping`) and serves the operator's routes (the outbox,
//! the texts). Tables: `migrations/*/0011_notifications.sql`.

mod admin;
mod outbox;
mod scan;
mod sender;
mod template;

use nexuma_sdk::{
    clock, export_component, log, response, ApiError, AuthLevel, Component, Endpoint, Job,
};

const SEND_JOB: &str = "send";
const SEND_EVERY_MS: u64 = 1_000;
const SCAN_JOB: &str = "scan";
const SCAN_EVERY_MS: u64 = 5_000;
const HOUSEKEEPING_JOB: &str = "housekeeping";
const HOUSEKEEPING_EVERY_MS: u64 = 3_600_000;

struct Notify;

impl Component for Notify {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/admin/notifications", admin::list)
            .auth(AuthLevel::Admin)
            .summary("Telegram messages in the outbox, newest first")
            .doc(|route| {
                route
                    .response_type::<response::Page<'static, admin::Notification>>()
                    .query_type::<admin::ListQuery>()
            }),
        Endpoint::get("/admin/notifications/templates", admin::templates)
            .auth(AuthLevel::Admin)
            .summary("The text of every kind of Telegram message, with its placeholders")
            .doc(|route| route.response_type::<admin::Templates>()),
        Endpoint::put("/admin/notifications/templates/:kind", admin::put_template)
            .auth(AuthLevel::Admin)
            .summary("Sets the text of a kind of Telegram message")
            .doc(|route| {
                route
                    .request_type::<admin::TemplateBody>()
                    .response_type::<admin::TemplateView>()
            }),
        Endpoint::delete(
            "/admin/notifications/templates/:kind",
            admin::reset_template,
        )
        .auth(AuthLevel::Admin)
        .summary("Restores the built-in text of a kind of Telegram message")
        .doc(|route| route.response_type::<admin::TemplateView>()),
    ];

    fn jobs() -> Vec<Job> {
        vec![
            Job::every(SEND_JOB, SEND_EVERY_MS),
            Job::every(SCAN_JOB, SCAN_EVERY_MS),
            Job::every(HOUSEKEEPING_JOB, HOUSEKEEPING_EVERY_MS),
        ]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            SEND_JOB => sender::tick().map(|_| ()),
            SCAN_JOB => scan::run(clock::now_ms()),
            HOUSEKEEPING_JOB => {
                let deleted = outbox::housekeeping(clock::now_ms())?;
                if deleted > 0 {
                    log::info(
                        "old notifications deleted",
                        &[("deleted", &deleted.to_string())],
                    );
                }
                Ok(())
            }
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

export_component!(Notify);
