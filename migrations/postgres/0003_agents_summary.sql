-- The Agent summary JSON (the list item) precomputed at each write, so GET /agents concatenates
-- stored bytes instead of building a JSON tree per row.
ALTER TABLE agents ADD COLUMN summary TEXT COLLATE "C" NOT NULL DEFAULT '{}';
