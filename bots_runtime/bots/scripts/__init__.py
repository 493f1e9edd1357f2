"""Programs that run inside the Bots interpreter, not in the runtime's own.

Each is started as `python path/to/script.py ARGS` with the interpreter of the Bots programs,
so it sees exactly the Python, the Django and the environment Bots will see; each prints one
JSON document on stdout. They import nothing from bots_runtime (it may not be installed in
that interpreter), only each other (their folder is first on `sys.path`), and are named so
that this shadows nothing.
"""
