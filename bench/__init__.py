"""jiefen benchmark harness (issue 6): run with `python bench/run.py --quick`; see bench/README.md."""
