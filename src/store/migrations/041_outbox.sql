-- Outbox of email and SMS messages, written in the transaction that causes
-- them and delivered by the sender thread of any node.
--   status: pending -> sending (claimed, lease_until) -> sent | failed;
--           a failed attempt returns to pending with next_at moved (backoff).
--   payload: encrypted JSON {"text","html"} (it may hold tokens or codes);
--            wiped once the message is sent or has failed for good.
--   times: next_at and lease_until in Unix milliseconds, the others in seconds.
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL DEFAULT 0,
  claim TEXT,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  sent_at BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
