-- OAuth 2.0 / OpenID Connect provider: clients, authorizations (codes and the
-- grants their tokens belong to), refresh tokens, revoked access tokens,
-- consents and the provider's browser sessions.
--
-- What is stored per issued token:
--   * client_credentials access token: nothing (a stateless JWT). A revoked one
--     gets a row in oauth_revoked_tokens until it would have expired anyway.
--   * authorization_code: one oauth_grants row per authorization (the code,
--     hashed, single use) and one oauth_refresh_tokens row per refresh token
--     (hashed); access and id tokens themselves are stateless JWTs.

CREATE TABLE oauth_clients (
  id TEXT PRIMARY KEY,                 -- the client_id (UUID)
  name TEXT NOT NULL,
  secret_hash TEXT,                    -- keyed hash of the secret; NULL for public clients
  token_endpoint_auth_method TEXT NOT NULL,
  grant_types TEXT NOT NULL,           -- space-separated
  redirect_uris TEXT NOT NULL,         -- JSON array
  post_logout_redirect_uris TEXT NOT NULL, -- JSON array
  scopes TEXT NOT NULL,                -- space-separated
  skip_consent INTEGER NOT NULL DEFAULT 0,
  id_token_alg TEXT NOT NULL DEFAULT 'ES256',
  created_by TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  secret_rotated_at BIGINT
);

-- One row per authorization decision: the code (keyed hash, single use, short
-- lived) and the grant every token issued from it belongs to. Revoking the row
-- (revoked_at) ends its refresh tokens; its access tokens carry the row id as
-- `sid` and stop through the revoked-session view.
CREATE TABLE oauth_grants (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,                  -- 'oauth' (/oauth2/token) or 'api' (/api/auth/token)
  client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  nonce TEXT,
  code_challenge TEXT,
  auth_time BIGINT NOT NULL,
  code_hash TEXT NOT NULL,
  code_expires_at BIGINT NOT NULL,
  code_used INTEGER NOT NULL DEFAULT 0,
  session_id TEXT,                     -- 'api' kind: the Armor session the code was redeemed for
  revoked_at BIGINT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL           -- refresh tokens die with the grant
);
CREATE UNIQUE INDEX oauth_grants_code ON oauth_grants (code_hash);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id);
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_at);

-- Refresh tokens (keyed hash). Rotation marks the old one used; presenting a
-- used one again revokes the whole grant (the token family).
CREATE TABLE oauth_refresh_tokens (
  hash TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);

-- Access tokens revoked one by one (RFC 7009), by jti, kept until they expire.
-- Every node mirrors this table in memory.
CREATE TABLE oauth_revoked_tokens (
  jti TEXT PRIMARY KEY,
  client_id TEXT,
  revoked_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_revoked_tokens_revoked_at ON oauth_revoked_tokens (revoked_at);
CREATE INDEX oauth_revoked_tokens_expires_at ON oauth_revoked_tokens (expires_at);

-- Scopes a user granted to a client (the consent page is skipped when the
-- requested scopes are a subset).
CREATE TABLE oauth_consents (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, client_id)
);

-- The provider's browser sessions (cookie armor_session / __Host-armor_session),
-- keyed hash of the cookie value.
CREATE TABLE oauth_browser_sessions (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  auth_time BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_browser_sessions_user ON oauth_browser_sessions (user_id);
CREATE INDEX oauth_browser_sessions_expires ON oauth_browser_sessions (expires_at);
