"""Accounts: users, passwords, sessions, signed tokens, rate limits."""
