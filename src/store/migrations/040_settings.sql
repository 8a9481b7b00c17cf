-- Runtime settings: one row per section (app, email, sms, security, system).
-- data is a JSON object; secret fields hold "v1:..." ciphertexts (master key).
-- version grows by one on every change; nodes re-read rows whose version moved.
CREATE TABLE IF NOT EXISTS settings (
  section TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  version BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
