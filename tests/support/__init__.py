"""Test support shared by every test folder: real processes, bounded waits, pid checks.

`RuntimeProcess` is the one black-box handle on a real `bots-runtime` process; `wait_until`
is the one bounded wait; `process_exists` and `children_of` read the kernel's own records.
"""

from tests.support.procs import children_of, process_exists, zombies_of
from tests.support.runtime import (
    CHILD,
    PYTHON,
    ROOT,
    ChildCmd,
    Event,
    RuntimeFactory,
    RuntimeProcess,
)
from tests.support.waits import free_port, wait_until

__all__ = [
    "CHILD",
    "PYTHON",
    "ROOT",
    "ChildCmd",
    "Event",
    "RuntimeFactory",
    "RuntimeProcess",
    "children_of",
    "free_port",
    "process_exists",
    "wait_until",
    "zombies_of",
]
