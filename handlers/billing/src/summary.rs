//! `GET /admin/billing/summary`: money over the last days, per UTC day — what came in
//! (deposits), what subscriptions brought (charges and renewals), what went back (refunds) and
//! what was taken out (withdrawals) — in minor units, every day of the range present.

use nexuma_sdk::db;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::ledger::CURRENCY;

const DAY_MS: i64 = 86_400_000;
/// Days the summary covers unless `days` says otherwise, and at most.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 366;

/// One day's sums, each a positive amount in minor units (its JSON Schema is derived from this
/// type).
#[derive(Serialize, JsonSchema, Default, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Sums {
    deposits: i64,
    /// Charges and renewals: what subscriptions brought.
    sales: i64,
    refunds: i64,
    withdrawals: i64,
}

impl Sums {
    /// Adds a ledger kind's signed total (deposits and refunds in, the rest out).
    fn add(&mut self, kind: &str, signed: i64) {
        match kind {
            "deposit" => self.deposits += signed,
            "charge" | "renewal" => self.sales -= signed,
            "refund" => self.refunds += signed,
            "withdrawal" => self.withdrawals -= signed,
            _ => {}
        }
    }

    fn plus(self, other: Sums) -> Sums {
        Sums {
            deposits: self.deposits + other.deposits,
            sales: self.sales + other.sales,
            refunds: self.refunds + other.refunds,
            withdrawals: self.withdrawals + other.withdrawals,
        }
    }
}

/// One UTC day.
#[derive(Serialize, JsonSchema)]
pub struct Day {
    /// Epoch milliseconds of the day's start (UTC).
    day: i64,
    #[serde(flatten)]
    sums: Sums,
}

/// `GET /admin/billing/summary` (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct Summary {
    currency: &'static str,
    /// Oldest first; today last.
    days: Vec<Day>,
    totals: Sums,
}

/// The query of `GET /admin/billing/summary`.
#[derive(JsonSchema)]
#[allow(dead_code)] // read by hand: only its schema is used
pub struct SummaryQuery {
    /// How many UTC days, today included (1 to 366; default 30).
    #[schemars(range(min = 1, max = MAX_DAYS))]
    days: Option<i64>,
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let count = req.int_query("days", DEFAULT_DAYS, 1, MAX_DAYS)?;
    let from = (clock::now_ms().div_euclid(DAY_MS) - (count - 1)) * DAY_MS;
    let rows = db::query(
        "SELECT CAST(created_at / 86400000 AS BIGINT) * 86400000 AS day, kind, \
         CAST(SUM(amount) AS BIGINT) AS total FROM balance_ledger WHERE created_at >= $1 \
         GROUP BY CAST(created_at / 86400000 AS BIGINT), kind",
        &[from.into()],
    )?;
    let mut days: Vec<Day> = (0..count)
        .map(|d| Day {
            day: from + d * DAY_MS,
            sums: Sums::default(),
        })
        .collect();
    for row in rows.iter() {
        let index = (row.i64("day")? - from) / DAY_MS;
        if let Some(day) = usize::try_from(index).ok().and_then(|i| days.get_mut(i)) {
            day.sums.add(row.str("kind")?, row.i64("total")?);
        }
    }
    let totals = days.iter().fold(Sums::default(), |t, d| t.plus(d.sums));
    response::json(
        200,
        &Summary {
            currency: CURRENCY,
            days,
            totals,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_ledger_totals_read_as_positive_sums_by_kind() {
        let mut s = Sums::default();
        s.add("deposit", 500);
        s.add("charge", -300);
        s.add("renewal", -100);
        s.add("refund", 50);
        s.add("withdrawal", -20);
        s.add("unknown", 999);
        let expected = Sums {
            deposits: 500,
            sales: 400,
            refunds: 50,
            withdrawals: 20,
        };
        assert_eq!(s, expected);
        assert_eq!(s.plus(s).sales, 800);
    }
}
