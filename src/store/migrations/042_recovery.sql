-- Single-use secrets of password recovery and email verification, stored as
-- keyed hashes only (armor_secret_token_hash):
--   purpose: 'recovery' (emailed link / redeemed OTP), 'otp' (SMS code),
--            'grant' (reset grant), 'verify' (email verification link).
--   destination: the address a verification link was sent to.
CREATE TABLE IF NOT EXISTS recovery_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  destination TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL,
  used_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS recovery_tokens_hash ON recovery_tokens (token_hash);
CREATE INDEX IF NOT EXISTS recovery_tokens_user ON recovery_tokens (user_id, purpose);

-- Recent recovery sends and requests, for the rate limits (keys are keyed hashes
-- of "ip:...", "id:...", "user:...", "dest:..."; no identifier is stored in clear).
CREATE TABLE IF NOT EXISTS recovery_events (
  key TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS recovery_events_key ON recovery_events (key, at);
