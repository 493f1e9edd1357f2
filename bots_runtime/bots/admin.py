"""The optional admin user init-db creates: named by variables, or by files from a Secret.

The deployment this project replaces reset the admin's password from a Secret on every run,
so a password changed in the GUI came back. init-db only ever creates this user: when no user
of that name exists. An existing one, its password included, is never changed.

`BOTS_ADMIN_USER`, `BOTS_ADMIN_PASSWORD` and `BOTS_ADMIN_EMAIL` give the values; each
`<NAME>_FILE` variant names a file that holds it instead (a mounted Kubernetes Secret: the
password then never sits in an environment). A `_FILE` that names no file counts as not set,
so an optional Secret that is absent means "no admin user", said in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bots_runtime.core.errors import SettingError

if TYPE_CHECKING:
    from collections.abc import Mapping

USER = "BOTS_ADMIN_USER"
PASSWORD = "BOTS_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password
EMAIL = "BOTS_ADMIN_EMAIL"
#: Django's own rule for user names (UnicodeUsernameValidator, max_length 150).
_NAME = re.compile(r"[\w.@+-]{1,150}")


@dataclass(frozen=True, slots=True)
class AdminUser:
    """The admin user to create when missing (the password is never shown)."""

    name: str
    password: str
    email: str = ""

    def __repr__(self) -> str:
        return f"AdminUser(name={self.name!r}, email={self.email!r})"


@dataclass(frozen=True, slots=True)
class AdminSetting:
    """What the variables say: a user to create, or none and why (for the one line)."""

    user: AdminUser | None
    note: str = ""


def _value(environ: Mapping[str, str], name: str) -> tuple[str | None, str]:
    """The value of `name` or of the file `name_FILE` names; None when neither is given.

    The second item says where the value came from, or why there is none.
    """
    direct = environ.get(name)
    path = environ.get(f"{name}_FILE")
    if direct and path:
        msg = f"{name} and {name}_FILE are both set; set one of them"
        raise SettingError(msg)
    if direct:
        return direct, name
    if not path:
        return None, ""
    file = Path(path)
    if not file.exists():
        return None, f"{name}_FILE={path} does not exist"
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        msg = f"{name}_FILE={path}: cannot be read: {reason}"
        raise SettingError(msg) from None
    # A Secret made with --from-file often ends in a newline that is no part of the value.
    return text.removesuffix("\n").removesuffix("\r"), f"{name}_FILE={path}"


def from_environ(environ: Mapping[str, str]) -> AdminSetting:
    """The admin user the variables name; `SettingError` (one line, exit 78) when they are bad."""
    name, name_from = _value(environ, USER)
    password, password_from = _value(environ, PASSWORD)
    email, _email_from = _value(environ, EMAIL)
    if name is None and password is None:
        reasons = [why for why in (name_from, password_from) if why]
        note = f"no admin user: {'; '.join(reasons)}" if reasons else ""
        return AdminSetting(None, note)
    if name is None:
        msg = f"{password_from} is set but {USER} (or {USER}_FILE) is not: name the admin user"
        if name_from:
            msg = f"{password_from} is set but {name_from}: name the admin user"
        raise SettingError(msg)
    if password is None:
        msg = f"{name_from} is set but {PASSWORD} (or {PASSWORD}_FILE) is not"
        if password_from:
            msg = f"{name_from} is set but {password_from}"
        raise SettingError(msg)
    name = name.strip()
    if not _NAME.fullmatch(name):
        msg = (
            f"{name_from}: {name!r} is not a user name Django accepts (letters, digits and"
            " @ . + - _, at most 150)"
        )
        raise SettingError(msg)
    if not password:
        msg = f"{password_from}: the password is empty"
        raise SettingError(msg)
    return AdminSetting(AdminUser(name, password, (email or "").strip()))
