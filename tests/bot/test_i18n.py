"""Catalogs: every user-visible string has Japanese, and the compiled catalogs are current."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import SUPPORTED_LANGUAGES, TRANSLATIONS_DIR, supported_language

ROOT = Path(__file__).resolve().parents[2]
#: The gettext functions in the code, as ``make i18n`` extracts them.
KEYWORDS = ("_", "_l", "gettext", "lazy_gettext", "ngettext:1,2")
SOURCES = ("bot", "handlers", "simulator")


def catalog(language: str, suffix: str = "po"):  # type: ignore[no-untyped-def]
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"messages.{suffix}"
    with path.open("rb") as handle:
        return read_po(handle) if suffix == "po" else read_mo(handle)


def key(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A message id or string as a comparable value (plural forms are lists or tuples)."""
    return value if isinstance(value, str) else tuple(value)


def extracted_ids(tmp_path: Path) -> set[str | tuple[str, ...]]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            *[arg for keyword in KEYWORDS for arg in ("-k", keyword)],
            "-o",
            str(pot),
            *SOURCES,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {key(m.id) for m in read_po(io.BytesIO(handle.read())) if m.id}


def test_every_string_in_the_code_is_in_the_catalogs(tmp_path: Path) -> None:
    in_code = extracted_ids(tmp_path)
    for language in SUPPORTED_LANGUAGES:
        in_catalog = {key(m.id) for m in catalog(language) if m.id}
        assert in_code <= in_catalog, f"run `make i18n`: {sorted(in_code - in_catalog)}"


def test_every_string_has_a_japanese_translation() -> None:
    untranslated = [m.id for m in catalog("ja") if m.id and not all(key(m.string))]
    assert not untranslated


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_compiled_catalogs_match_the_sources(language: str) -> None:
    source = {key(m.id): key(m.string) for m in catalog(language) if m.id}
    compiled = {key(m.id): key(m.string) for m in catalog(language, "mo") if m.id}
    assert compiled == {k: v for k, v in source.items() if any(v)}, "run `make i18n`"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ja", "ja"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("zh-TW", "ja"),
        ("", "ja"),
        (None, "ja"),
        ("klingon", "ja"),
    ],
)
def test_supported_language(given: str | None, expected: str) -> None:
    assert supported_language(given) == expected
