"""The public case lookup (case code + phone number, no login)."""
