"""Schema migrations from code: Alembic's configuration and ``upgrade head``.

Used by ``madoguchi db upgrade``, by the embedded development server before it serves, and
by the test fixtures that migrate their databases. Alembic is imported only when called, so
web workers never load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(url: str) -> Config:
    """Alembic's configuration (from pyproject.toml) aimed at a database URL."""
    from alembic.config import Config

    config = Config(toml_file=str(ROOT / "pyproject.toml"))
    config.attributes["url"] = url
    return config


def upgrade_database(url: str) -> None:
    """Apply every migration (``alembic upgrade head``)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
