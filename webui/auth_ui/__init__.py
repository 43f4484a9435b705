"""Login, logout and the role / org-unit switcher."""
