"""Accounts and authentication (issue 14): users, API keys, sessions."""
