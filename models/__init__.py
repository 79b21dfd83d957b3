"""The three model roles, each behind a small interface: teacher (writes), critic (judges), student (distils)."""
