"""String and field comparators for identity resolution (pure Python, deterministic)."""

from __future__ import annotations

import re
import unicodedata

_SOUNDEX = str.maketrans("bfpvcgjkqsxzdtlmnr", "111122222222334556")
LEGAL_FORMS = re.compile(
    r"\b(gmbh|g\.m\.b\.h\.?|ag|kg|inc\.?|incorporated|llc|l\.l\.c\.?|ltd\.?|limited|plc|corp\.?|corporation|"
    r"sa|sarl|b\.?v\.?|ab|k\.k\.|co\.?|company)\b|有限公司"
)


def fold(text: str | None) -> str:
    """Lower-case, accents removed, punctuation to spaces, spaces collapsed."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())


_FORMS = {
    "gmbh": "gmbh",
    "g m b h": "gmbh",
    "ag": "ag",
    "kg": "kg",
    "inc": "inc",
    "incorporated": "inc",
    "llc": "llc",
    "l l c": "llc",
    "ltd": "ltd",
    "limited": "ltd",
    "plc": "plc",
    "corp": "corp",
    "corporation": "corp",
    "sa": "sa",
    "sarl": "sarl",
    "b v": "bv",
    "bv": "bv",
    "ab": "ab",
    "k k": "kk",
}


def legal_form(name: str | None) -> str:
    """Canonical legal form at the end of a company name ('gmbh', 'ltd', …), '' when none."""
    text = str(name or "")
    if text.endswith("有限公司"):
        return "youxian"
    folded = fold(text)
    for size in (4, 3, 2, 1):
        tail = " ".join(folded.split()[-size:]) if len(folded.split()) > size else ""
        if tail in _FORMS:
            return _FORMS[tail]
        joined = tail.replace(" ", "")
        if size > 1 and joined in _FORMS and len(joined) <= 4:
            return _FORMS[joined]
    return ""


def company_core(name: str | None) -> str:
    """An organization's name without legal form (GmbH, Ltd, 有限公司 …)."""
    folded = LEGAL_FORMS.sub(" ", str(name or "").casefold())
    return fold(folded)


# Local parts that name a role, not a person: "invoices+anna.berg@…" is Anna Berg's address.
ROLE_MAILBOXES = frozenset(
    {
        "info", "invoice", "invoices", "billing", "accounts", "accounting", "sales", "support", "service",
        "contact", "office", "admin", "hello", "mail", "noreply", "no-reply", "orders", "team",
    }
)  # fmt: skip


def mailboxes(email: str) -> tuple[str, ...]:
    """The personal parts of an address's local part: split at '+', role names ("invoices", "info") dropped."""
    return tuple(part for part in email.partition("@")[0].split("+") if part and part not in ROLE_MAILBOXES)


def digits(text: str | None) -> str:
    """Only the digits of a value (phones, ids, dates)."""
    return re.sub(r"\D", "", str(text or ""))


def soundex(word: str) -> str:
    """American Soundex: vowels separate equal codes, h and w do not ('' for an empty word)."""
    letters = [ch for ch in fold(word) if ch.isalpha() and ch.isascii()]
    if not letters:
        return ""
    out: list[str] = []
    previous = letters[0].translate(_SOUNDEX)
    for ch in letters[1:]:
        if ch in "hw":
            continue
        code = ch.translate(_SOUNDEX)
        if not code.isdigit():  # a vowel: the next consonant is coded even if equal
            previous = ""
            continue
        if code != previous:
            out.append(code)
        previous = code
    return (letters[0].upper() + "".join(out) + "000")[:4]


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1]."""
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    a_match, b_match = [False] * len(a), [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_match[j] and b[j] == ch:
                a_match[i] = b_match[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    a_chars = [ch for ch, m in zip(a, a_match, strict=True) if m]
    b_chars = [ch for ch, m in zip(b, b_match, strict=True) if m]
    transpositions = sum(x != y for x, y in zip(a_chars, b_chars, strict=True)) / 2
    jaro = (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def date_similarity(a: str, b: str) -> float:
    """1 for the same date (YYYYMMDD digits), 0.7 for one typo or day/month swapped, else 0."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if len(a) == len(b) == 8 and a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return 0.7
    return 0.7 if within_one_edit(a, b) else 0.0
