"""Tools for running the blog on a developer's machine and in tests (not used in production)."""
