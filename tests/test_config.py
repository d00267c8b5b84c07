"""bot/config.py: the one place environment variables are read and validated."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import config
from bot.config import SettingsError, whole_number

CONFIG_SOURCE = Path(config.__file__)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 7), ("", 7), ("  ", 7), ("1", 1), (" 12 ", 12), ("0010", 10), ("20", 20)],
)
def test_whole_number_accepts_digits_in_range(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"N": raw}
    assert whole_number(env, "N", 7, minimum=1, maximum=20) == expected


@pytest.mark.parametrize(
    "raw", ["0", "21", "-3", "+3", "1.5", "1e3", "1_0", "١٢", "x", "9" * 40, "3 4"]
)
def test_whole_number_refuses_anything_else_in_one_line_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        whole_number({"AWSSEC_N": raw}, "AWSSEC_N", 7, minimum=1, maximum=20)
    message = str(caught.value)
    assert message.startswith("AWSSEC_N is malformed: ")
    assert message.endswith("is not a whole number from 1 to 20")
    assert "\n" not in message and len(message) < 120  # a 40-digit value is cut short


def test_whole_number_says_what_was_expected() -> None:
    with pytest.raises(SettingsError, match=r"^PORT is malformed: 'http' is not a port number$"):
        whole_number(
            {"PORT": "http"}, "PORT", 3000, minimum=1, maximum=65535, expected=("a port number")
        )


def test_retention_days() -> None:
    assert config.retention_days({}) == config.DEFAULT_RETENTION_DAYS == 90
    assert config.retention_days({"AWSSEC_RETENTION_DAYS": "30"}) == 30
    for bad in ("0", "-3", "ninety", str(config.MAX_RETENTION_DAYS + 1)):
        with pytest.raises(SettingsError, match=r"^AWSSEC_RETENTION_DAYS is malformed: "):
            config.retention_days({"AWSSEC_RETENTION_DAYS": bad})


def test_retention_days_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWSSEC_RETENTION_DAYS", "12")
    assert config.retention_days() == 12


def test_db_pool_sizes() -> None:
    assert config.db_pool_sizes({}) == (3, 5)
    sizes = {"AWSSEC_DB_POOL_SIZE": "2", "AWSSEC_DB_MAX_OVERFLOW": "0"}
    assert config.db_pool_sizes(sizes) == (2, 0)
    with pytest.raises(SettingsError, match=r"^AWSSEC_DB_POOL_SIZE is malformed: '0'"):
        config.db_pool_sizes({"AWSSEC_DB_POOL_SIZE": "0"})
    with pytest.raises(SettingsError, match=r"^AWSSEC_DB_MAX_OVERFLOW is malformed: 'lots'"):
        config.db_pool_sizes({"AWSSEC_DB_MAX_OVERFLOW": "lots"})


def test_a_bad_pool_size_stops_opening_a_postgres_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.engine import make_url

    from bot.storage.engine import create_store_engine

    monkeypatch.setenv("AWSSEC_DB_POOL_SIZE", "three")
    # Refused before any connection is attempted (the host does not exist).
    with pytest.raises(SettingsError, match=r"^AWSSEC_DB_POOL_SIZE is malformed: 'three'"):
        create_store_engine(make_url("postgresql+psycopg://u:p@db.invalid/awssec"))


def test_default_sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"AWSSEC_DATA_DIR": str(tmp_path / "d"), "XDG_DATA_HOME": str(tmp_path / "x")}
    assert config.default_sqlite_path(data) == tmp_path / "d" / "awssec.db"
    xdg = {"XDG_DATA_HOME": str(tmp_path / "x"), "AWSSEC_DATA_DIR": " "}
    assert config.default_sqlite_path(xdg) == tmp_path / "x" / "awssec" / "awssec.db"
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "awssec" / "awssec.db"
    assert config.default_sqlite_path({}) == expected


def test_text_readers_treat_blank_as_unset() -> None:
    assert config.database_url({"DATABASE_URL": "  "}) is None
    assert config.database_url({"DATABASE_URL": " sqlite:///x.db "}) == "sqlite:///x.db"
    assert config.knowledge_path_from_env({}) is None
    assert config.knowledge_path_from_env({"AWSSEC_KNOWLEDGE": "/k"}) == "/k"
    assert config.snapshot_dir_from_env({"AWSSEC_KNOWLEDGE_SNAPSHOT": ""}) is None
    assert config.snapshot_dir_from_env({"AWSSEC_KNOWLEDGE_SNAPSHOT": "/s"}) == Path("/s")


def test_knowledge_path_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.knowledge import bundled_knowledge_path, resolve_knowledge_path

    monkeypatch.setenv("AWSSEC_KNOWLEDGE", "/somewhere/kb")
    assert resolve_knowledge_path() == Path("/somewhere/kb")
    assert resolve_knowledge_path("/given") == Path("/given")
    monkeypatch.setenv("AWSSEC_KNOWLEDGE", "")
    assert resolve_knowledge_path() == bundled_knowledge_path()


def test_server_environment_passes_the_knowledge_path_on() -> None:
    base = {"PATH": "/bin", "AWSSEC_KNOWLEDGE": "/old"}
    assert config.server_environment(None, base) == base
    assert config.server_environment("/new", base) == {"PATH": "/bin", "AWSSEC_KNOWLEDGE": "/new"}
    assert base["AWSSEC_KNOWLEDGE"] == "/old"  # the caller's mapping is left alone


def test_config_is_a_leaf_importing_nothing_from_bot() -> None:
    tree = ast.parse(CONFIG_SOURCE.read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert imported and not [m for m in imported if m and (m == "bot" or m.startswith("bot."))]


def test_no_module_but_config_reads_the_environment() -> None:
    # Reads only: the gunicorn master still exports the snapshot folder to its workers.
    bot = CONFIG_SOURCE.parent
    readers = []
    for path in sorted(bot.rglob("*.py")):
        if path == CONFIG_SOURCE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and not isinstance(getattr(node, "ctx", None), ast.Store)
            ):
                readers.append(f"{path.relative_to(bot.parent)}:{node.lineno}")
    allowed = {"bot/slack/server/gunicorn_conf.py"}  # `os.environ[SNAPSHOT_ENV] = ...`
    assert [r for r in readers if r.split(":")[0] not in allowed] == []
