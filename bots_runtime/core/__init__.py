"""Pure data and decisions: specs, state, back-off, exit codes, signal tables, health verdicts.

Standard library only, no event loop and no I/O, so every rule here is tested without a
process. Everything else in the package builds on these types.
"""
