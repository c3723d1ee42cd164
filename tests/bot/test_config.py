"""Configuration: read once in create_app, validated, secrets required in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from bot import create_app
from bot.config import SETTINGS, ConfigError, line_settings, load_config


def test_production_without_secrets_names_the_variables() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={})
    message = str(error.value)
    for name in ("SECRET_KEY", "LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"):
        assert name in message


def test_create_app_refuses_to_start_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "MADOGUCHI_ENV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="LINE_CHANNEL_SECRET"):
        create_app()


def test_environment_is_read_and_typed() -> None:
    config = load_config(
        environ={
            "MADOGUCHI_ENV": "development",
            "LINE_API_TIMEOUT": "2.5",
            "DIALOG_TIMEOUT_MINUTES": "10",
            "LINE_API_BASE_URL": "http://127.0.0.1:9/",
        }
    )
    assert config["LINE_API_TIMEOUT"] == 2.5
    assert config["DIALOG_TIMEOUT_MINUTES"] == 10
    assert config["LINE_API_BASE_URL"] == "http://127.0.0.1:9"  # no trailing slash (SDK pitfall)
    assert config["DATABASE_URL"].startswith("sqlite:///")
    assert config["DATABASE_URL"].endswith("instance/madoguchi.db")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINE_API_TIMEOUT", "soon"),
        ("DIALOG_TIMEOUT_MINUTES", "1.5"),
        ("MADOGUCHI_ENV", "staging"),
        ("LINE_API_TIMEOUT", "0"),
        ("LOG_FORMAT", "xml"),
        ("RESIDENT_SESSION_MINUTES", "0"),
        ("RESIDENT_SESSION_MINUTES", "721"),
        ("RESIDENT_SESSION_MINUTES", "half an hour"),
        ("STAFF_SESSION_HOURS", "0"),
        ("STAFF_SESSION_HOURS", "25"),
        ("STAFF_SESSION_HOURS", "half a day"),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(environ={"MADOGUCHI_ENV": "development", name: value})


PRODUCTION = {"SECRET_KEY": "k", "LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MADOGUCHI_ENV": "development"}, "text"),
        ({"MADOGUCHI_ENV": "development", "LOG_FORMAT": ""}, "text"),
        (PRODUCTION, "json"),
        ({**PRODUCTION, "MADOGUCHI_ENV": "production"}, "json"),
        ({"MADOGUCHI_ENV": "development", "LOG_FORMAT": "json"}, "json"),
        ({**PRODUCTION, "LOG_FORMAT": "text"}, "text"),
    ],
)
def test_log_format_follows_the_mode_unless_set(environ: dict[str, str], expected: str) -> None:
    assert load_config(environ=environ)["LOG_FORMAT"] == expected


def test_blob_host_follows_the_api_host() -> None:
    lines = line_settings(load_config(environ={"MADOGUCHI_ENV": "development"}))
    assert (lines.api_base_url, lines.data_base_url) == (
        "https://api.line.me",
        "https://api-data.line.me",
    )
    mock = line_settings(
        load_config(
            environ={"MADOGUCHI_ENV": "development", "LINE_API_BASE_URL": "http://127.0.0.1:9"}
        )
    )
    assert mock.data_base_url == "http://127.0.0.1:9"
    split = line_settings(
        load_config(
            environ={
                "MADOGUCHI_ENV": "development",
                "LINE_API_BASE_URL": "http://a:1",
                "LINE_API_DATA_BASE_URL": "http://b:2",
            }
        )
    )
    assert split.data_base_url == "http://b:2"


def test_development_without_line_uses_the_simulator(tmp_path: object) -> None:
    app = create_app(
        {
            "MADOGUCHI_ENV": "development",
            "TESTING": True,
            "DATABASE_URL": "sqlite://",
            "LINE_CHANNEL_SECRET": "",
            "LINE_CHANNEL_ACCESS_TOKEN": "",
            "SIMULATOR_PORT": 5999,
        }
    )
    assert app.config["USING_SIMULATOR"] is True
    assert app.config["LINE_API_BASE_URL"] == "http://127.0.0.1:5999"
    app.extensions["line"].close()


def test_readme_documents_every_setting(app: Flask) -> None:
    """The core's settings and those the app's features registered each have a README row."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# madoguchi")
    assert "make run" in readme
    assert "make test" in readme
    rows = {line.split("|")[1].strip() for line in readme.splitlines() if line.startswith("| `")}
    names = [s.name for s in (*SETTINGS, *app.extensions["seam"].settings)]
    missing = [name for name in names if f"`{name}`" not in rows]
    assert not missing, f"README.md, Configuration, lacks {missing}"


def test_settings_command_prints_every_row(toy_app: Flask) -> None:
    result = toy_app.test_cli_runner().invoke(args=["settings"])
    assert result.exit_code == 0, result.output
    assert "| `DATABASE_URL` | (none) | SQLAlchemy URL." in result.output
    assert "| `TOY_GREETING` | `こんにちは` | What the toy says. |" in result.output


def test_console_script_lists_the_commands() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("madoguchi")
    env = {"MADOGUCHI_ENV": "development", "DATABASE_URL": "sqlite://", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(script), "--help"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("db", "serve", "richmenu"):
        assert command in result.stdout


def test_console_script_names_a_missing_setting_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(sys.executable).with_name("madoguchi")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(script), "surveys", "export", "1", "-o", str(tmp_path / "out.xlsx")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("madoguchi: missing required setting(s) in production")
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/app", "postgresql+psycopg://u:p@db.example:5432/app"),
        ("postgresql://u:p@db.example/app", "postgresql+psycopg://u:p@db.example/app"),
        ("postgresql+psycopg://u@db.example/app", "postgresql+psycopg://u@db.example/app"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_heroku_style_database_urls_use_psycopg(given: str, expected: str) -> None:
    config = load_config(environ={"MADOGUCHI_ENV": "development", "DATABASE_URL": given})
    assert config["DATABASE_URL"] == expected


def test_an_app_starts_on_a_postgres_scheme_url() -> None:
    app = create_app(
        {
            "MADOGUCHI_ENV": "development",
            "TESTING": True,
            "DATABASE_URL": "postgres://someone@127.0.0.1:9/nowhere",
            "LINE_CHANNEL_SECRET": "",
            "LINE_CHANNEL_ACCESS_TOKEN": "",
        }
    )
    assert app.extensions["db"].engine.dialect.driver == "psycopg"
    app.extensions["line"].close()


SIMULATED = {"MADOGUCHI_ENV": "development"}
REAL_LINE = {
    "MADOGUCHI_ENV": "development",
    "LINE_CHANNEL_SECRET": "a-real-channel-secret",
    "LINE_CHANNEL_ACCESS_TOKEN": "a-real-access-token",
}


def test_development_with_the_simulator_gets_a_random_key_per_run() -> None:
    first, second = load_config(environ=SIMULATED), load_config(environ=SIMULATED)
    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 40
    assert first["SECURE_DEPLOYMENT"] is False
    given = load_config(environ={**SIMULATED, "SECRET_KEY": "mine"})
    assert given["SECRET_KEY"] == "mine"


def test_development_with_a_real_line_channel_is_secured_like_production() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY") as error:
        load_config(environ=REAL_LINE)
    assert "real LINE channel" in str(error.value)
    config = load_config(environ={**REAL_LINE, "SECRET_KEY": "a long random key"})
    assert config["SECURE_DEPLOYMENT"] is True
    with pytest.raises(ConfigError, match="placeholder"):
        load_config(
            environ={
                **REAL_LINE,
                "SECRET_KEY": "k",
                "LINE_CHANNEL_SECRET": "madoguchi-development-channel-secret",
            }
        )


def test_development_with_a_real_line_channel_sends_secure_cookies(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.logs

    monkeypatch.setattr(bot.logs, "configure", lambda *args: None)  # not this test's business
    app = create_app({**REAL_LINE, "SECRET_KEY": "a long random key", "DATABASE_URL": database_url})
    try:
        response = app.test_client().get("/admin/signin", base_url="https://localhost")
        cookies = response.headers.getlist("Set-Cookie")
        [cookie] = [c for c in cookies if c.startswith("madoguchi_session=")]
        assert "; Secure" in cookie
        assert response.headers["Strict-Transport-Security"]
    finally:
        app.extensions["line"].close()
        app.extensions["db"].dispose()


def test_the_web_process_does_not_load_the_spreadsheet_libraries(tmp_path: Path) -> None:
    """pyxform, openpyxl and XlsxWriter (about 45 MB) are imported when a workbook is read or
    written, not at start-up: webhook workers stay within their memory budget
    (docs/benchmark.md)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bot import create_app\n"
        "create_app()\n"
        "print(sorted(m for m in ('pyxform', 'openpyxl', 'xlsxwriter') if m in sys.modules))\n"
    )
    env = {
        "MADOGUCHI_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
