"""The Bots EDI catalogue on top of the generic runtime.

Each Bots program (webserver, engine, jobqueueserver, dirmonitor) becomes a `ServiceSpec` of
plain defaults, built from a validated Bots environment; init-db sets an environment up. Only
the CLI layer imports this package; the runtime learns about Bots work (the engine's push)
only through hooks in the spec.
"""

#: The Bots programs bots-runtime can run, by service name (the program is `bots-<name>`).
SERVICES = ("webserver", "engine", "jobqueueserver", "dirmonitor")
