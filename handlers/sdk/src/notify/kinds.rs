//! The catalog of notification kinds: who gets each, the placeholders its text may use and the
//! built-in text an operator's template replaces.

/// Who a kind of message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The user the event is about.
    User,
    /// Every admin with a linked Telegram account.
    Admins,
}

impl Audience {
    /// The audience as the operator's routes name it (`user`, `admins`).
    pub fn name(self) -> &'static str {
        match self {
            Audience::User => "user",
            Audience::Admins => "admins",
        }
    }
}

/// One kind of message.
#[derive(Debug)]
pub struct Kind {
    /// The kind's name, e.g. `balance.deposit` (one of [`names`](crate::notify::names)).
    pub name: &'static str,
    /// Who gets it.
    pub audience: Audience,
    /// The `{name}`s its text may use; writers set every one.
    pub placeholders: &'static [&'static str],
    /// The built-in text, used until an operator sets one.
    pub default_text: &'static str,
}

/// Kind names, for writers.
pub mod names {
    /// A subscription ends soon.
    pub const SUBSCRIPTION_EXPIRING: &str = "subscription.expiring";
    /// A subscription ended (time, traffic or cancellation).
    pub const SUBSCRIPTION_EXPIRED: &str = "subscription.expired";
    /// Most of a subscription's traffic is used.
    pub const TRAFFIC_WARNING: &str = "traffic.warning";
    /// A subscription's traffic is used up.
    pub const TRAFFIC_EXHAUSTED: &str = "traffic.exhausted";
    /// A subscription renewed from the balance.
    pub const RENEWAL_CHARGED: &str = "renewal.charged";
    /// A renewal the balance did not cover.
    pub const RENEWAL_FAILED: &str = "renewal.failed";
    /// Money added to a balance.
    pub const BALANCE_DEPOSIT: &str = "balance.deposit";
    /// Money refunded to a balance.
    pub const BALANCE_REFUND: &str = "balance.refund";
    /// A registration an admin approved.
    pub const ACCOUNT_APPROVED: &str = "account.approved";
    /// A registration an admin declined.
    pub const ACCOUNT_REJECTED: &str = "account.rejected";
    /// A node stopped reporting (to admins).
    pub const NODE_SILENT: &str = "node.silent";
    /// A silent node reports again (to admins).
    pub const NODE_BACK: &str = "node.back";
    /// A node could not apply a config revision (to admins).
    pub const NODE_CONFIG_ERROR: &str = "node.config_error";
}

use names::*;

const fn user(
    name: &'static str,
    placeholders: &'static [&'static str],
    default_text: &'static str,
) -> Kind {
    Kind {
        name,
        audience: Audience::User,
        placeholders,
        default_text,
    }
}

const fn admins(
    name: &'static str,
    placeholders: &'static [&'static str],
    default_text: &'static str,
) -> Kind {
    Kind {
        name,
        audience: Audience::Admins,
        placeholders,
        default_text,
    }
}

/// Every kind of message the Core sends, with its audience, placeholders and built-in text.
pub static KINDS: &[Kind] = &[
    user(
        SUBSCRIPTION_EXPIRING,
        &["tariff", "expiresAt", "timeLeft"],
        "Your subscription \"{tariff}\" ends in {timeLeft}, on {expiresAt}.",
    ),
    user(
        SUBSCRIPTION_EXPIRED,
        &["tariff", "reason"],
        "Your subscription \"{tariff}\" has ended: {reason}.",
    ),
    user(
        TRAFFIC_WARNING,
        &["tariff", "percent", "used", "limit"],
        "You have used {percent} of the traffic of \"{tariff}\": {used} of {limit}.",
    ),
    user(
        TRAFFIC_EXHAUSTED,
        &["tariff", "used", "limit"],
        "The traffic of \"{tariff}\" is used up: {used} of {limit}.",
    ),
    user(
        RENEWAL_CHARGED,
        &["tariff", "amount", "balance", "expiresAt"],
        "Your subscription \"{tariff}\" was renewed for {amount} (balance now {balance}); \
         it runs until {expiresAt}.",
    ),
    user(
        RENEWAL_FAILED,
        &["tariff", "price", "balance"],
        "Your subscription \"{tariff}\" could not be renewed: it costs {price}, the balance is \
         {balance}.",
    ),
    user(
        BALANCE_DEPOSIT,
        &["amount", "balance", "reason"],
        "{amount} was added to your balance; it is now {balance}.",
    ),
    user(
        BALANCE_REFUND,
        &["amount", "balance", "reason"],
        "{amount} was refunded to your balance; it is now {balance}.",
    ),
    user(
        ACCOUNT_APPROVED,
        &["name"],
        "Your account has been approved. Welcome!",
    ),
    user(
        ACCOUNT_REJECTED,
        &["name"],
        "Your registration has been declined.",
    ),
    admins(
        NODE_SILENT,
        &["node", "lastSeen"],
        "Node {node} is silent: last heard {lastSeen}.",
    ),
    admins(
        NODE_BACK,
        &["node", "silentFor"],
        "Node {node} is back after {silentFor} of silence.",
    ),
    admins(
        NODE_CONFIG_ERROR,
        &["node", "revision", "error"],
        "Node {node} could not apply config revision {revision}: {error}",
    ),
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}
