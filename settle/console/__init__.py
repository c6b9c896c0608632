"""The operator console: operator accounts (Argon2id passwords, one-time passwords, roles,
lockout), their sign-in sessions (hashed tokens, CSRF tokens, idle and absolute expiry) and
the server-rendered pages under /console.

Nothing here imports the composition root: the service hands the pages its store and
settings (settle.app.service), the `settle operator` commands call `accounts` directly.
"""
