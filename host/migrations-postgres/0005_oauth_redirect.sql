-- The redirect URI an authorization-code flow was started with: the token
-- exchange must send the same one.
ALTER TABLE oauth_states ADD COLUMN redirect_uri TEXT NOT NULL DEFAULT '';
