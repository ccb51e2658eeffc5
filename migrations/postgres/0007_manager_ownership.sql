-- Which users the Node Manager owns: those it created with POST /users/new. Only these may be
-- deleted through POST /users/del; any other account (registered, Telegram, billing customers,
-- admins) is refused there, so a Manager call never wipes an account and its money.
CREATE TABLE manager_users (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The admin who created it (NULL for rows found by the backfill below).
    created_by  TEXT,
    created_at  BIGINT NOT NULL
);

-- Users the Manager made before this table: role user, no email, password or Telegram id, with
-- a link of their own (not one of a billing subscription).
INSERT INTO manager_users (user_id, created_by, created_at)
SELECT u.id, NULL, u.created_at FROM users u
WHERE u.role = 'user' AND u.email IS NULL AND u.password_hash IS NULL AND u.telegram_id IS NULL
  AND EXISTS (SELECT 1 FROM subscription_links l
              WHERE l.user_id = u.id AND l.subscription_id IS NULL);
