//! The keyset cursor of `GET /admin/usage`: the sort key of the last row a page gave (time, user,
//! node, link) plus the order and granularity it was read in. Opaque to clients (URL-safe base64 of a
//! JSON array), checked on the way back in. Pure, unit-tested natively.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nexuma_sdk::ApiError;

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
pub const MAX_LEN: usize = 2000;

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
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// A cursor from a client: it must be one this route gave, for the same order and
    /// granularity (else 400 naming `cursor`).
    pub fn decode(
        raw: &str,
        descending: bool,
        granularity: Granularity,
    ) -> Result<Cursor, ApiError> {
        let bad = |why: &str| ApiError::validation("cursor", why);
        if raw.len() > MAX_LEN {
            return Err(bad("is not a cursor this route gave"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| bad("is not a cursor this route gave"))?;
        let wire: Wire =
            serde_json::from_slice(&bytes).map_err(|_| bad("is not a cursor this route gave"))?;
        let cursor = Cursor {
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
        if cursor.descending != descending || cursor.granularity != granularity {
            return Err(bad("was given for another sort or granularity"));
        }
        Ok(cursor)
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
            Cursor::decode(&c.encode(), true, Granularity::Day).unwrap(),
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
            let err = Cursor::decode(raw, desc, g).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some("cursor")),
                "{raw}"
            );
        }
    }
}
