"""bots-runtime: the container entrypoint that supervises one Bots EDI service."""

__version__ = "0.1.0"
