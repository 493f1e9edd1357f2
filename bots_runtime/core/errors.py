"""The one error type for a bad setting or configuration, with the exit code it means."""

from __future__ import annotations

from bots_runtime.core import exit_codes


class SettingError(Exception):
    """A bad setting; `code` is the documented exit code (64 usage, 78 configuration).

    The message is one line for the operator: it names the setting (a flag, a variable, a
    file and key) and what would be allowed.
    """

    def __init__(self, message: str, code: int = exit_codes.CONFIG) -> None:
        super().__init__(message)
        self.code = code
