-- Platform: key/value metadata shared by every node.
CREATE TABLE IF NOT EXISTS armor_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
