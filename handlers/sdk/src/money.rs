//! What every component that shows money agrees on.

/// The one currency of balances for now (tariffs carry their own `currency`, which must be
/// this one to be sold).
pub const CURRENCY: &str = "RUB";
