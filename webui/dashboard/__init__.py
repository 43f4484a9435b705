"""The dashboard (/dashboard): the center's figures, charts and overdue board for those who oversee it."""
