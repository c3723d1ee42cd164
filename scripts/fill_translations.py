"""Fill Japanese translations into the catalog from a Python dict, then compile.

Usage: python scripts/fill_translations.py FILE.py  (FILE defines JA = {msgid: japanese}).
Translators normally edit bot/translations/ja/LC_MESSAGES/messages.po directly; this helper
is for adding many strings at once after `make i18n`.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1] / "bot" / "translations"


def main() -> None:
    table: dict[str, str] = runpy.run_path(sys.argv[1])["JA"]
    po = ROOT / "ja" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if message.id and not message.string and message.id in table:
            message.string = table[message.id]
    with po.open("wb") as handle:
        write_po(handle, catalog, width=100)
    for language in ("ja", "en"):
        folder = ROOT / language / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as handle:
            compiled = read_po(handle)
        with (folder / "messages.mo").open("wb") as handle:
            write_mo(handle, compiled)
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"untranslated: {missing}" if missing else "every string has Japanese")


if __name__ == "__main__":
    main()
