-- GET /admin/users pages by keyset too (issue 18): every page continues strictly after the last
-- row of the one before in (created_at, id) order, a range of this index per page.
CREATE INDEX users_created_idx ON users (created_at, id);
