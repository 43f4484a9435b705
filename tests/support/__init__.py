"""Helpers shared by the test packages."""

# The one password test users get: it passes the password policy (engine/services/users.check_password).
PASSWORD = "Jiefen-Test-Pass-2026"
