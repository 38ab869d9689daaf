"""How many SMS segments a text takes (what the compose page's counter shows, and what the
provider bills).

A text made only of GSM 03.38 characters is sent as GSM-7: 160 characters in one segment, 153
per segment once it is split (the rest is the concatenation header); the extension characters
(^ { } \\ [ ] ~ | €) take two. Any other character (an emoji, a curly quote, Chinese) makes the
whole text UCS-2: 70 UTF-16 units in one segment, then 67 per segment. static/js/sms-counter.js
counts the same way in the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Length:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int


def measure(body: str) -> Length:
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in body)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return Length(encoding, 0, 0, single)
    if units <= single:
        return Length(encoding, units, 1, single)
    return Length(encoding, units, math.ceil(units / multi), multi)
