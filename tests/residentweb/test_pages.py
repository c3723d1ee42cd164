"""Resident pages: the layout, the language they speak, and their error pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.residentweb.conftest import sign_in_as


def lang(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)">', html)
    assert match, html[:200]
    return match.group(1)


def test_the_layout_is_made_for_phones(client: FlaskClient) -> None:
    html = client.get("/r/test/open").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'href="/static/resident.css"' in html
    assert not re.search(r"\sstyle=|\son[a-z]+=|<style", html)
    assert "<script" not in html
    with client.get("/static/resident.css") as css:
        assert css.status_code == 200


@pytest.mark.parametrize(
    ("accept", "expected"), [(None, "ja"), ("en-US,en;q=0.9", "en"), ("fr, zh-TW", "ja")]
)
def test_without_a_resident_the_browser_chooses(
    client: FlaskClient, accept: str | None, expected: str
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    html = client.get("/r/nope", headers=headers).get_data(as_text=True)
    assert lang(html) == expected
    assert ("Page not found" in html) == (expected == "en")


@pytest.mark.parametrize("language", ["en", "ja"])
def test_a_signed_in_residents_line_language_wins(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int], language: str
) -> None:
    sign_in_as(app, client, resident_id(language=language))
    browser = "ja" if language == "en" else "en"
    html = client.get("/r/nope", headers={"Accept-Language": browser}).get_data(as_text=True)
    assert lang(html) == language


@pytest.mark.parametrize(
    ("path", "status", "japanese"),
    [
        ("/r/test/link/forged", 400, "このリンクは無効です"),
        ("/r/test/me", 403, "このページは表示できません"),
        ("/r/test/undeclared", 403, "このページは表示できません"),
        ("/r/no/such/page", 404, "ページが見つかりません"),
        ("/r", 404, "ページが見つかりません"),
        ("/r/test/boom", 500, "問題が発生しました"),
    ],
)
def test_error_pages_are_resident_pages(
    client: FlaskClient, path: str, status: int, japanese: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert japanese in html
    assert 'href="/static/resident.css"' in html
    assert f"エラーコード: {status}" in html
    assert "console" not in html


def test_an_unexpected_error_gets_the_500_page_in_the_browsers_language(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as in production
    with caplog.at_level(logging.ERROR):
        answer = client.get("/r/test/boom?raise", headers={"Accept-Language": "en"})
    assert answer.status_code == 500
    html = answer.get_data(as_text=True)
    assert "Something went wrong" in html
    assert lang(html) == "en"
    assert "a bug in a resident page" not in html
    assert "a bug in a resident page" in caplog.text  # logged for the operators


def test_console_error_pages_are_unchanged(client: FlaskClient) -> None:
    missing = client.get("/admin/no-such-page")
    assert missing.status_code == 404
    html = missing.get_data(as_text=True)
    assert "404 Not Found" in html
    assert 'href="/static/console.css"' in html
    assert "窓口 管理画面" in html  # the console's layout


def test_other_urls_get_plain_errors(client: FlaskClient) -> None:
    for path in ("/nope", "/administrator", "/rx"):
        answer = client.get(path)
        assert answer.status_code == 404
        html = answer.get_data(as_text=True)
        assert "resident.css" not in html
        assert "console.css" not in html
