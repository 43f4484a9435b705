"""jiefen configuration: defaults, environment overrides and per-center data files."""
