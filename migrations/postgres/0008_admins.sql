-- Dashboard admins (argon2id password hashes) and their sign-in sessions
-- (stored as SHA-256 of the cookie's token, with the session's CSRF token).
CREATE TABLE admin_users (
    email          TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash  TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX admin_sessions_email ON admin_sessions(email);
