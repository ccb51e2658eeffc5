//! The keyset cursor of `GET /admin/usage`: the sort key of the last row a page gave (time, user,
//! node, link) plus the order and granularity it was read in, written with the SDK's cursor codec
//! (`nexuma_sdk::cursor`: opaque to clients, checked on the way back in). Pure, unit-tested
//! natively.

use nexuma_sdk::{cursor, ApiError};

use crate::calendar::Granularity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub descending: bool,
    pub granularity: Granularity,
    pub time: i64,
    pub user: String,
    pub node: String,
    pub link: String,
}

/// Longer than any cursor this route gives (ids are at most a few hundred bytes).
pub const MAX_LEN: usize = cursor::MAX_LEN;

type Wire = (bool, bool, i64, String, String, String);

impl Cursor {
    pub fn encode(&self) -> String {
        let wire: Wire = (
            self.descending,
            self.granularity == Granularity::Day,
            self.time,
            self.user.clone(),
            self.node.clone(),
            self.link.clone(),
        );
        cursor::encode(&wire)
    }

    /// A cursor from a client in the parameter `field`: it must be one this route gave, for the
    /// same order and granularity (else 400 naming `field`).
    pub fn decode(
        field: &str,
        raw: &str,
        descending: bool,
        granularity: Granularity,
    ) -> Result<Cursor, ApiError> {
        let wire: Wire = cursor::decode(field, raw)?;
        let found = Cursor {
            descending: wire.0,
            granularity: if wire.1 {
                Granularity::Day
            } else {
                Granularity::Hour
            },
            time: wire.2,
            user: wire.3,
            node: wire.4,
            link: wire.5,
        };
        if found.descending != descending || found.granularity != granularity {
            return Err(ApiError::validation(
                field,
                "was given for another sort or granularity",
            ));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cursor {
        Cursor {
            descending: true,
            granularity: Granularity::Day,
            time: 1_767_225_600_000,
            user: "u-1".into(),
            node: "n\"1".into(),
            link: "l-1".into(),
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(
            Cursor::decode("cursor", &c.encode(), true, Granularity::Day).unwrap(),
            c
        );
    }

    #[test]
    fn refuses_foreign_or_mismatched_cursors() {
        let c = sample().encode();
        for (raw, desc, g) in [
            (c.as_str(), false, Granularity::Day),
            (c.as_str(), true, Granularity::Hour),
            ("zz", true, Granularity::Day),
            ("a", true, Granularity::Day),
            // `{}`: JSON, but not a cursor.
            ("e30", true, Granularity::Day),
            ("é1", true, Granularity::Day),
        ] {
            let err = Cursor::decode("cursor", raw, desc, g).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some("cursor")),
                "{raw}"
            );
        }
    }
}
