"""Municipalities as data: Gunma's 35, with their official codes.

The resident attribute ``municipality`` holds the code (総務省 全国地方公共団体コード, without
the check digit): the profile survey (examples/resident-profile.xlsx) offers these as its
options, audiences select by code, and reports show the name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Municipality:
    """A municipality: its code, its name, and its name in Latin letters (English pages)."""

    code: str
    name: str
    romaji: str


#: Gunma's 35 municipalities, in code order (cities, then towns and villages by district).
GUNMA: tuple[Municipality, ...] = (
    Municipality("10201", "前橋市", "Maebashi"),
    Municipality("10202", "高崎市", "Takasaki"),
    Municipality("10203", "桐生市", "Kiryu"),
    Municipality("10204", "伊勢崎市", "Isesaki"),
    Municipality("10205", "太田市", "Ota"),
    Municipality("10206", "沼田市", "Numata"),
    Municipality("10207", "館林市", "Tatebayashi"),
    Municipality("10208", "渋川市", "Shibukawa"),
    Municipality("10209", "藤岡市", "Fujioka"),
    Municipality("10210", "富岡市", "Tomioka"),
    Municipality("10211", "安中市", "Annaka"),
    Municipality("10212", "みどり市", "Midori"),
    Municipality("10344", "榛東村", "Shinto"),
    Municipality("10345", "吉岡町", "Yoshioka"),
    Municipality("10366", "上野村", "Ueno"),
    Municipality("10367", "神流町", "Kanna"),
    Municipality("10382", "下仁田町", "Shimonita"),
    Municipality("10383", "南牧村", "Nanmoku"),
    Municipality("10384", "甘楽町", "Kanra"),
    Municipality("10421", "中之条町", "Nakanojo"),
    Municipality("10424", "長野原町", "Naganohara"),
    Municipality("10425", "嬬恋村", "Tsumagoi"),
    Municipality("10426", "草津町", "Kusatsu"),
    Municipality("10428", "高山村", "Takayama"),
    Municipality("10429", "東吾妻町", "Higashiagatsuma"),
    Municipality("10443", "片品村", "Katashina"),
    Municipality("10444", "川場村", "Kawaba"),
    Municipality("10448", "昭和村", "Showa"),
    Municipality("10449", "みなかみ町", "Minakami"),
    Municipality("10464", "玉村町", "Tamamura"),
    Municipality("10521", "板倉町", "Itakura"),
    Municipality("10522", "明和町", "Meiwa"),
    Municipality("10523", "千代田町", "Chiyoda"),
    Municipality("10524", "大泉町", "Oizumi"),
    Municipality("10525", "邑楽町", "Ora"),
)

_BY_CODE = {municipality.code: municipality for municipality in GUNMA}


def municipality_name(code: str, language: str = "ja") -> str:
    """The name of the municipality with this code, in Japanese or (any other language) in
    Latin letters; an unknown code as it is."""
    found = _BY_CODE.get(code)
    if found is None:
        return code
    return found.name if language == "ja" else found.romaji
