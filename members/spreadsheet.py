"""The CSV export's guard against spreadsheet formulas, and the import's exact inverse.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return runs as a formula when a
spreadsheet opens the file ("=HYPERLINK(...)" in a name): the export puts an apostrophe in
front, which spreadsheets show as "treat as text". So that export-then-import gives the same
data back, the rule is a bijection:

- `guard(text)`: an apostrophe in front of any text that starts with apostrophes (none or
  more) followed by a formula character;
- `unguard(cell)`: one apostrophe removed from any cell that starts with one apostrophe or
  more followed by a formula character.

Every guarded text unguards to itself, and a cell `unguard` changes could only have come from
`guard` ("'t Hooft" or "O'Brien" are left alone both ways). Phones are not guarded (a stored
E.164 number's leading + is data, and phones cannot be formulas).
"""

from __future__ import annotations

import re

_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_GUARDED = re.compile(r"'+[=+\-@\t\r]")


def guard(text: str) -> str:
    return "'" + text if _FORMULA.match(text) else text


def unguard(cell: str) -> str:
    return cell[1:] if _GUARDED.match(cell) else cell
