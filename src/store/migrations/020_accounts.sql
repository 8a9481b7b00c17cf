-- Accounts: users, built-in roles and their permissions, sessions with their
-- refresh tokens, the first-admin setup tokens and the audit trail.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  username_norm TEXT NOT NULL,
  email TEXT,
  email_norm TEXT,
  phone TEXT,
  email_verified INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  password_hash TEXT,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  lock_count INTEGER NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  password_changed_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_norm ON users (username_norm);
CREATE UNIQUE INDEX users_email_norm ON users (email_norm);
CREATE INDEX users_phone ON users (phone);

CREATE TABLE roles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  builtin INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE role_permissions (
  role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  permission TEXT NOT NULL,
  PRIMARY KEY (role_id, permission)
);
CREATE TABLE user_roles (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id);
-- Built-in roles have fixed ids. `admin` holds every permission of the catalog
-- (the code grants the whole catalog, so new permissions need no migration);
-- `user` holds none.
INSERT INTO roles (id, name, description, builtin, created_at)
  VALUES ('00000000-0000-4000-8000-000000000001', 'admin', 'Administrators: every permission', 1, 0);
INSERT INTO roles (id, name, description, builtin, created_at)
  VALUES ('00000000-0000-4000-8000-000000000002', 'user', 'Users: their own profile and sessions', 1, 0);

-- A session is one login. token_format 'jwt' or 'opaque'; access_hash is the
-- keyed hash of the current opaque access token (NULL for JWT sessions).
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_format TEXT NOT NULL DEFAULT 'jwt',
  access_hash TEXT,
  ip TEXT,
  user_agent TEXT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  max_expires_at BIGINT NOT NULL,
  revoked_at BIGINT,
  revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE UNIQUE INDEX sessions_access_hash ON sessions (access_hash);

-- Refresh tokens, stored as keyed hashes. The current one has rotated_at NULL;
-- presenting a rotated one ends the whole session.
CREATE TABLE refresh_tokens (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  rotated_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- One-time links that create the first administrator.
CREATE TABLE setup_tokens (
  hash TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);

CREATE TABLE audit_log (
--@sqlite   id INTEGER PRIMARY KEY AUTOINCREMENT,
--@postgres id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  event TEXT NOT NULL,
  actor_id TEXT,
  subject_id TEXT,
  ip TEXT,
  request_id TEXT,
  details TEXT
);
CREATE INDEX audit_log_event ON audit_log (event, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_subject ON audit_log (subject_id, id);
