"""bots-runtime tests: see tests/support for the shared handles."""
