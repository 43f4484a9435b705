"""The administration area (/admin): processes and their versions today; users, org tree and calendar follow."""
