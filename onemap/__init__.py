"""onemap."""
