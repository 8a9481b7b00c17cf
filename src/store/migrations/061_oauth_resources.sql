-- Per-client allow-list of RFC 8707 resource indicators: a token request's
-- `resource` must be one of these (exact match), else invalid_target. JSON
-- array of absolute https (or loopback http) URIs without a fragment.
ALTER TABLE oauth_clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
