//! `/console/tariffs`: the tariffs, a form to create one (each field's message from the API
//! beside it), and deletion after a confirmation (a tariff in use is refused, and the page says
//! so).

use maud::{html, Markup};
use nexuma_sdk::money::CURRENCY;
use nexuma_sdk::notify::format;
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Map, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, field_error, Frame, Notice};
use crate::session::Admin;

const PROTOCOLS: [&str; 4] = ["vless", "vmess", "trojan", "shadowsocks"];
/// The form's fields, as the API names them.
const FIELDS: [&str; 6] = [
    "name",
    "price",
    "durationMonths",
    "trafficLimitBytes",
    "protocols",
    "active",
];
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `GET /console/tariffs`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = match req.query("done") {
        Some("created") => Some(Notice::Done("The tariff was created.".into())),
        Some("deleted") => Some(Notice::Done("The tariff was deleted.".into())),
        Some("saved") => Some(Notice::Done("The tariff was saved.".into())),
        _ => None,
    };
    page_with(admin, 200, notice, None, &Form::empty())
}

/// The list and the creation form, with what was typed and the API's error if any.
fn page_with(
    admin: &Admin,
    status: u16,
    notice: Option<Notice>,
    error: Option<&ApiError>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let tariffs = call::get(admin, "/admin/tariffs?limit=200")?;
    let content = html! {
        h1 { "Tariffs" }
        (table(admin, &tariffs))
        h2 { "New tariff" }
        (create_form(admin, error, typed))
    };
    let frame = Frame {
        title: "Tariffs",
        section: "/console/tariffs",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

fn table(admin: &Admin, tariffs: &Value) -> Markup {
    let items = tariffs["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["Name", "Price", "Period", "Traffic", "Protocols", ""],
        items.iter().map(|tariff| row(admin, tariff)),
        "No tariffs yet: create the first below.",
    )
}

fn row(admin: &Admin, tariff: &Value) -> Markup {
    let id = tariff["id"].as_str().unwrap_or_default();
    let name = tariff["name"].as_str().unwrap_or_default();
    html! {
        tr {
            td {
                a href={"/console/tariffs/" (id)} { (name) }
                @if tariff["active"].as_bool() == Some(false) { " " (page::pill("retired")) }
            }
            td { (format::money(tariff["price"].as_i64().unwrap_or(0), tariff["currency"].as_str().unwrap_or_default())) }
            td { (period(tariff["durationMonths"].as_i64())) }
            td { (traffic(tariff["trafficLimitBytes"].as_i64())) }
            td { (protocols(&tariff["protocols"])) }
            td.actions {
                form method="post" action={"/console/tariffs/" (id) "/delete"} {
                    (page::token_field(admin))
                    button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

fn period(months: Option<i64>) -> String {
    match months {
        None => "indefinite".into(),
        Some(1) => "1 month".into(),
        Some(n) => format!("{n} months"),
    }
}

fn traffic(bytes: Option<i64>) -> String {
    match bytes {
        None => "unlimited".into(),
        Some(b) => format::bytes(b),
    }
}

fn protocols(list: &Value) -> String {
    let names: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names.is_empty() {
        "all".into()
    } else {
        names.join(", ")
    }
}

fn create_form(admin: &Admin, error: Option<&ApiError>, typed: &Form) -> Markup {
    tariff_form(
        admin,
        "/console/tariffs",
        "Create tariff",
        error,
        typed,
        false,
    )
}

/// The tariff's fields as typed (or as stored, for an edit), posting to `action`; `edit` adds
/// whether it can still be bought.
fn tariff_form(
    admin: &Admin,
    action: &str,
    submit: &str,
    error: Option<&ApiError>,
    typed: &Form,
    edit: bool,
) -> Markup {
    let value = |name| typed.get(name).unwrap_or_default().to_string();
    let checked: Vec<&str> = typed.all("protocols").collect();
    html! {
        div.panel {
            form method="post" action=(action) {
                (page::token_field(admin))
                label for="name" { "Name" }
                input #name name="name" value=(value("name")) required maxlength="100";
                (field_error(error, "name"))
                label for="price" { "Price (" (CURRENCY) ")" }
                input #price name="price" value=(value("price")) inputmode="decimal" placeholder="e.g. 199.00" required;
                (field_error(error, "price"))
                label for="durationMonths" { "Period in months" }
                input #durationMonths name="durationMonths" type="number" min="1" value=(value("durationMonths")) placeholder="empty: indefinite";
                (field_error(error, "durationMonths"))
                label for="trafficGib" { "Traffic limit in GiB" }
                input #trafficGib name="trafficGib" type="number" min="0" step="any" value=(value("trafficGib")) placeholder="empty: unlimited";
                (field_error(error, "trafficLimitBytes"))
                label { "Protocols" }
                div.checks {
                    @for p in PROTOCOLS {
                        label { input type="checkbox" name="protocols" value=(p) checked[checked.contains(&p)]; (p) }
                    }
                }
                p.hint { "None ticked: every protocol." }
                (field_error(error, "protocols"))
                @if edit {
                    div.checks { label { input type="checkbox" name="active" value="yes" checked[typed.get("active") == Some("yes")]; "On sale (untick to retire it: subscriptions keep it, nobody new can buy it)" } }
                    (field_error(error, "active"))
                }
                p { button type="submit" { (submit) } }
            }
        }
    }
}

/// `POST /console/tariffs`: creates a tariff through `POST /admin/tariffs`; a refusal shows
/// the form again as typed, with the API's message beside its field.
pub fn create(_req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let result = tariff_body(fields, false)
        .and_then(|body| call::send(admin, "POST", "/admin/tariffs", Some(&body)));
    match result {
        Ok(_) => Ok(page::redirect(
            "/console/tariffs?done=created",
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 => {
            let notice = page::form_error(Some(&err), &FIELDS);
            page_with(admin, err.status, notice, Some(&err), fields)
        }
        Err(err) => Err(err),
    }
}

/// The API's body from the form: the price in minor units, the traffic in bytes; a figure that
/// is not one is refused here with the field's name, as the API would. For an edit (`patch`),
/// an empty period or limit is sent as null (indefinite, unlimited) and `active` is sent.
fn tariff_body(fields: &Form, patch: bool) -> Result<Value, ApiError> {
    let mut body = Map::new();
    body.insert("name".into(), json!(fields.get("name").unwrap_or_default()));
    body.insert(
        "price".into(),
        json!(minor_units(
            "price",
            fields.get("price").unwrap_or_default()
        )?),
    );
    body.insert("currency".into(), json!(CURRENCY));
    if let Some(months) = fields.filled("durationMonths") {
        let months: i64 = months.parse().map_err(|_| {
            ApiError::validation("durationMonths", "must be a whole number of months")
        })?;
        body.insert("durationMonths".into(), json!(months));
    } else if patch {
        body.insert("durationMonths".into(), Value::Null);
    }
    if let Some(gib) = fields.filled("trafficGib") {
        let gib: f64 = gib
            .parse()
            .ok()
            .filter(|g: &f64| g.is_finite() && *g >= 0.0)
            .ok_or_else(|| ApiError::validation("trafficLimitBytes", "must be a number of GiB"))?;
        body.insert(
            "trafficLimitBytes".into(),
            json!((gib * GIB).round() as i64),
        );
    } else if patch {
        body.insert("trafficLimitBytes".into(), Value::Null);
    }
    if patch {
        body.insert("active".into(), json!(fields.get("active") == Some("yes")));
    }
    body.insert(
        "protocols".into(),
        json!(fields.all("protocols").collect::<Vec<_>>()),
    );
    Ok(Value::Object(body))
}

/// `GET /console/tariffs/:id`: the tariff's form, filled with what is stored.
pub fn show(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let tariff = call::get(admin, &format!("/admin/tariffs/{}", encode(id)))?;
    edit_page(admin, id, 200, None, &stored(&tariff))
}

/// A stored tariff as the form's fields.
fn stored(tariff: &Value) -> Form {
    let price = tariff["price"].as_i64().unwrap_or(0);
    let mut fields = vec![
        (
            "name".to_string(),
            tariff["name"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "price".to_string(),
            format!("{}.{:02}", price / 100, price % 100),
        ),
    ];
    if let Some(months) = tariff["durationMonths"].as_i64() {
        fields.push(("durationMonths".into(), months.to_string()));
    }
    if let Some(bytes) = tariff["trafficLimitBytes"].as_i64() {
        fields.push(("trafficGib".into(), format!("{}", bytes as f64 / GIB)));
    }
    for p in tariff["protocols"].as_array().into_iter().flatten() {
        fields.push((
            "protocols".into(),
            p.as_str().unwrap_or_default().to_string(),
        ));
    }
    if tariff["active"].as_bool() != Some(false) {
        fields.push(("active".into(), "yes".into()));
    }
    Form::from_fields(fields)
}

fn edit_page(
    admin: &Admin,
    id: &str,
    status: u16,
    error: Option<&ApiError>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let content = html! {
        h1 { "Tariff “" (typed.get("name").unwrap_or_default()) "”" }
        p.hint { "A change applies to new purchases and renewals; subscriptions keep what they were bought with until they renew." }
        (tariff_form(admin, &format!("/console/tariffs/{id}"), "Save", error, typed, true))
        p { a href="/console/tariffs" { "Back to the tariffs" } }
    };
    let frame = Frame {
        title: "Tariff",
        section: "/console/tariffs",
        admin,
        notice: page::form_error(error, &FIELDS),
    };
    Ok(page::framed(status, frame, content))
}

/// `POST /console/tariffs/:id`: saves the form through `PATCH /admin/tariffs/:id`.
pub fn update(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let result = tariff_body(fields, true).and_then(|body| {
        call::send(
            admin,
            "PATCH",
            &format!("/admin/tariffs/{}", encode(id)),
            Some(&body),
        )
    });
    match result {
        Ok(_) => Ok(page::redirect(
            "/console/tariffs?done=saved",
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => {
            edit_page(admin, id, err.status, Some(&err), fields)
        }
        Err(err) => Err(err),
    }
}

/// `199`, `199.5`, `199.50` → minor units; anything else is refused naming `field`.
pub fn minor_units(field: &str, price: &str) -> Result<i64, ApiError> {
    let refused = || ApiError::validation(field, "must be an amount such as 199 or 199.90");
    let (whole, fraction) = price.split_once(['.', ',']).unwrap_or((price, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(refused());
    }
    let whole: i64 = whole.parse().map_err(|_| refused())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| refused())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(refused)
}

/// `POST /console/tariffs/:id/delete`: asks first; then `DELETE /admin/tariffs/:id`, whose
/// refusal of a tariff in use is shown as it is.
pub fn delete(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    if fields.get("confirm") != Some("yes") {
        let tariff = call::get(admin, &format!("/admin/tariffs/{}", encode(id)))?;
        let frame = Frame {
            title: "Delete this tariff?",
            section: "/console/tariffs",
            admin,
            notice: None,
        };
        let question = format!(
            "Delete the tariff “{}”?",
            tariff["name"].as_str().unwrap_or_default()
        );
        return Ok(page::confirm(
            frame,
            &question,
            "It can no longer be bought. A tariff that subscriptions use cannot be deleted; make it inactive instead.",
            &format!("/console/tariffs/{id}/delete"),
            &[],
            "/console/tariffs",
        ));
    }
    match call::send(
        admin,
        "DELETE",
        &format!("/admin/tariffs/{}", encode(id)),
        None,
    ) {
        Ok(_) => Ok(page::redirect(
            "/console/tariffs?done=deleted",
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 => page_with(
            admin,
            err.status,
            Some(Notice::Failed(err.message.clone())),
            None,
            &Form::empty(),
        ),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_minor_units_or_are_refused_by_field() {
        assert_eq!(minor_units("price", "199").ok(), Some(19_900));
        assert_eq!(minor_units("price", "199.5").ok(), Some(19_950));
        assert_eq!(minor_units("price", "0,05").ok(), Some(5));
        for bad in [
            "",
            "abc",
            "1.234",
            "-5",
            "1e3",
            ".5",
            "99999999999999999999",
        ] {
            let err = minor_units("price", bad).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("price"), "{bad}");
        }
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(period(None), "indefinite");
        assert_eq!(traffic(Some(10 * 1024 * 1024 * 1024)), "10.0 GiB");
        assert_eq!(protocols(&json!([])), "all");
    }
}
