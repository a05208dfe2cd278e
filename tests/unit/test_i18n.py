from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parents[2] / "locale"


def test_every_japanese_string_is_translated_and_compiled():
    po = polib.pofile(str(LOCALE / "ja/LC_MESSAGES/django.po"))
    assert po.percent_translated() == 100, [e.msgid for e in po.untranslated_entries()]
    assert not po.fuzzy_entries()
    mo = {entry.msgid: entry.msgstr for entry in polib.mofile(str(LOCALE / "ja/LC_MESSAGES/django.mo"))}
    stale = [e.msgid for e in po if not e.msgid_plural and mo.get(e.msgid) != e.msgstr]
    assert not stale, f"django.mo is older than django.po; run manage.py compilemessages: {stale[:3]}"
