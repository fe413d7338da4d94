"""What never leaves the site in an answer to ``aiedge logs`` or ``aiedge diagnose``: credentials
and join tokens, bearer and basic authorization, age identities and ciphertexts, private keys,
``password=``/``token=``-style values, and the literal values the agent knows are secret (its
own credential, the decrypted values of its apps' secrets). Lines are redacted one by one; an
armored block (``-----BEGIN ...-----`` to ``-----END ...-----``) is dropped whole."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"
_PATTERNS = [
    re.compile(r"aiedge-(?:site|join)-[A-Za-z0-9_\-]+"),
    re.compile(r"AGE-SECRET-KEY-1[0-9A-Za-z]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(
        r"(?i)\b((?:password|passwd|secret|token|api[_-]?key|access[_-]?key|credential)s?)"
        r"(\"?\s*[=:]\s*\"?)[^\s\"',;]+"
    ),
]
_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_END = re.compile(r"-----END [A-Z0-9 ]+-----")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret containing another is masked whole
        self._literals = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def lines(self, lines: Iterable[str]) -> list[str]:
        out: list[str] = []
        inside = False
        for line in lines:
            if inside:
                if _END.search(line):
                    inside = False
                continue
            if _BEGIN.search(line):
                out.append(_BEGIN.split(line, maxsplit=1)[0] + f"{MASK} (armored block)")
                inside = not _END.search(line)
                continue
            out.append(self.line(line))
        return out

    def line(self, line: str) -> str:
        for literal in self._literals:
            line = line.replace(literal, MASK)
        line = _PATTERNS[0].sub(MASK, line)
        line = _PATTERNS[1].sub(MASK, line)
        line = _PATTERNS[2].sub(lambda m: f"{m.group(1)} {MASK}", line)
        return _PATTERNS[3].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", line)
