"""The event-loop side: the composition root, the supervisor, the stop sequence, output.

anyio and structlog live here. This layer knows a service only as a `ServiceSpec` and never
imports the Bots catalogue; Bots-specific work reaches it as hooks in the spec.
"""
