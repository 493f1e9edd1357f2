"""The optional admin user: from variables or Secret files, strictly checked, never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import admin
from bots_runtime.core.errors import SettingError

if TYPE_CHECKING:
    from pathlib import Path


def test_nothing_set_is_no_admin_and_no_note() -> None:
    """No variable at all: no admin user and nothing to say."""
    assert admin.from_environ({}) == admin.AdminSetting(None, "")


def test_variables_give_the_user() -> None:
    """Name, password and e-mail from the plain variables; the name is stripped."""
    found = admin.from_environ(
        {"BOTS_ADMIN_USER": " ops ", "BOTS_ADMIN_PASSWORD": "pw x", "BOTS_ADMIN_EMAIL": "o@x"}
    )
    assert found.user == admin.AdminUser("ops", "pw x", "o@x")


def test_files_drop_one_trailing_newline(tmp_path: Path) -> None:
    """A Secret file made with --from-file ends in a newline that is no part of the password;
    other whitespace is kept."""
    (tmp_path / "u").write_text("admin\n")
    (tmp_path / "p").write_text(" pass word \r\n")
    env = {
        "BOTS_ADMIN_USER_FILE": str(tmp_path / "u"),
        "BOTS_ADMIN_PASSWORD_FILE": str(tmp_path / "p"),
    }
    assert admin.from_environ(env).user == admin.AdminUser("admin", " pass word ")


def test_missing_files_are_an_absent_secret(tmp_path: Path) -> None:
    """_FILE variables naming no file: no admin, and the note says which file is missing."""
    env = {
        "BOTS_ADMIN_USER_FILE": str(tmp_path / "u"),
        "BOTS_ADMIN_PASSWORD_FILE": str(tmp_path / "p"),
    }
    found = admin.from_environ(env)
    assert found.user is None
    assert found.note.startswith(f"no admin user: BOTS_ADMIN_USER_FILE={tmp_path / 'u'} does not")


def test_password_file_missing_with_a_user_is_an_error(tmp_path: Path) -> None:
    """A user named, its password file absent: an error naming both, not a silent skip."""
    env = {"BOTS_ADMIN_USER": "admin", "BOTS_ADMIN_PASSWORD_FILE": str(tmp_path / "p")}
    with pytest.raises(SettingError, match=r"BOTS_ADMIN_USER is set but BOTS_ADMIN_PASSWORD_FILE="):
        admin.from_environ(env)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"BOTS_ADMIN_USER": "a"}, "BOTS_ADMIN_USER is set but BOTS_ADMIN_PASSWORD"),
        ({"BOTS_ADMIN_PASSWORD": "p"}, "BOTS_ADMIN_PASSWORD is set but BOTS_ADMIN_USER"),
        ({"BOTS_ADMIN_USER": "a b", "BOTS_ADMIN_PASSWORD": "p"}, "not a user name Django"),
        ({"BOTS_ADMIN_USER": "x" * 151, "BOTS_ADMIN_PASSWORD": "p"}, "not a user name Django"),
        (
            {"BOTS_ADMIN_PASSWORD": "p", "BOTS_ADMIN_PASSWORD_FILE": "/f", "BOTS_ADMIN_USER": "a"},
            "BOTS_ADMIN_PASSWORD and BOTS_ADMIN_PASSWORD_FILE are both set",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], match: str) -> None:
    """Each half or contradictory setting is one error naming the variable (exit 78)."""
    with pytest.raises(SettingError, match=match) as caught:
        admin.from_environ(env)
    assert caught.value.code == 78


def test_empty_password_file_is_refused(tmp_path: Path) -> None:
    """An empty password (a Secret key without a value) is refused, not accepted as empty."""
    (tmp_path / "p").write_text("\n")
    env = {"BOTS_ADMIN_USER": "admin", "BOTS_ADMIN_PASSWORD_FILE": str(tmp_path / "p")}
    with pytest.raises(SettingError, match="the password is empty"):
        admin.from_environ(env)


def test_repr_hides_the_password() -> None:
    """The password never appears in a repr (a log line or a test failure)."""
    assert "secret-pw" not in repr(admin.AdminUser("admin", "secret-pw"))
