"""The HTTP side: the app, the embedded server, metrics, the check runner and its probes.

Loaded only once the child is running. `client` (the `bots-runtime probe` command) is the
exception: it imports nothing but `http.client`, because an exec probe runs it every few seconds.
"""
