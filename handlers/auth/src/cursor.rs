//! The keyset cursor of `GET /admin/users`: the sort key (created_at, id) of the last user a page
//! gave. Opaque to clients (URL-safe base64 of a JSON array), checked on the way back in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nexuma_sdk::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

/// Longer than any cursor this route gives (ids are UUIDs).
const MAX_LEN: usize = 500;

type Wire = (i64, String);

impl Cursor {
    pub fn encode(&self) -> String {
        let wire: Wire = (self.created_at, self.id.clone());
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// A cursor from a client: it must be one this route gave (else 400 naming `after`).
    pub fn decode(raw: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::validation("after", "is not a cursor this route gave");
        if raw.len() > MAX_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let (created_at, id): Wire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if created_at < 0 || id.is_empty() {
            return Err(bad());
        }
        Ok(Cursor { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Cursor {
            created_at: 1_767_225_600_000,
            id: "5f0c\"9".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn refuses_foreign_cursors() {
        let good = Cursor {
            created_at: 1,
            id: "u".into(),
        }
        .encode();
        let tampered = format!("{}x", &good[..good.len() - 1]);
        let negative = URL_SAFE_NO_PAD.encode(br#"[-1,"u"]"#);
        let empty_id = URL_SAFE_NO_PAD.encode(br#"[1,""]"#);
        // `{}`: JSON, but not a cursor.
        for raw in ["zz", "a", "e30", "é1", &tampered, &negative, &empty_id] {
            let err = Cursor::decode(raw).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some("after")),
                "{raw}"
            );
        }
    }
}
