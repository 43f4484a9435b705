"""The administration area (/admin): processes and their versions, the modeler, users, the org tree and roles, the calendar, the admin log."""
