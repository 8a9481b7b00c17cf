-- Tokens: signing keys (private parts encrypted with the master key) and the
-- revoked-session list every node mirrors in memory.
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY,          -- RFC 7638 thumbprint of the public key
  alg TEXT NOT NULL,             -- ES256 | RS256
  public_jwk TEXT NOT NULL,      -- JSON
  private_jwk TEXT NOT NULL,     -- armor_secret_encrypt of the private JWK JSON
  created_at BIGINT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, -- 1: the signing key of its alg; 0: retired
  retired_at BIGINT,
  not_after BIGINT               -- retired keys stay published until then
);
-- At most one active key per algorithm: two nodes racing at first start or
-- rotating together cannot both win.
CREATE UNIQUE INDEX IF NOT EXISTS signing_keys_one_active ON signing_keys (alg) WHERE active = 1;

CREATE TABLE IF NOT EXISTS revoked_sessions (
  sid TEXT PRIMARY KEY,
  revoked_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL     -- tokens of the session are dead anyway after this
);
CREATE INDEX IF NOT EXISTS revoked_sessions_revoked_at ON revoked_sessions (revoked_at);
CREATE INDEX IF NOT EXISTS revoked_sessions_expires_at ON revoked_sessions (expires_at);
