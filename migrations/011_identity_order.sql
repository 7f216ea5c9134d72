-- 011: device lists come in row order (the query module's keyset paging orders by id). With only
-- (module_id, status, connection_state) to go by, SQLite found the device rows through that index and
-- sorted all of them to hand out the first page: 190 ms at 1,000,000 devices. An index on module_id
-- alone keeps its entries in row order within module_id = '', so a page reads just its rows (3 ms).
CREATE INDEX identities_kind ON identities (module_id);
