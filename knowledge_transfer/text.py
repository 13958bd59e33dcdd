"""Tokens for lexical retrieval: English words stemmed, codes kept whole, Chinese segmented.

One tokenizer serves indexing and queries, in production and in `kbcrm eval retrieval`,
so the numbers the evaluation prints are the numbers users get.

- Codes such as `AX-120`, `E402`, `E-1234` or `PX-900/2` stay one token (lower-cased),
  and a hyphenated code also yields its unhyphenated form so `E1234` finds `E-1234`.
- Latin words are lower-cased, English stopwords dropped, then Snowball-stemmed (PyStemmer).
- Runs of CJK characters are segmented with jieba (search mode, so long words also yield
  their parts); ontology terms are added to jieba's dictionary once (`add_terms`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from ingest.notes import add_jieba_words

# A code: letters and digits mixed, optionally joined by '-' or '/', e.g. AX-120, E402, E-1234.
_CODE = r"(?:[A-Za-z]+-?\d[A-Za-z0-9_]*(?:[-/][A-Za-z0-9_]+)*|\d+[A-Za-z][A-Za-z0-9_]*)"
_TOKEN = re.compile(
    rf"(?P<code>{_CODE})|(?P<word>[A-Za-z][A-Za-z']*)|(?P<cjk>[\u3400-\u4dbf\u4e00-\u9fff]+)|(?P<num>\d+)"
)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
CHINESE_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "也",
        "有",
        "就",
        "都",
        "而",
        "及",
        "与",
        "或",
        "一个",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "这",
        "那",
        "吗",
        "呢",
        "吧",
        "啊",
        "请",
        "把",
        "被",
        "让",
    ]
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    return jieba


def add_terms(terms: Iterable[str]) -> int:
    """Add domain terms (product names, symptoms…) to jieba's dictionary, each once per process."""
    _jieba()
    # Only catalogue names (short terms), never sentences such as a resolution text.
    words = (t.strip() for t in terms)
    return add_jieba_words(w for w in words if w and len(w) <= 16 and contains_chinese(w))


def _tokens_and_words(text: str) -> Iterator[tuple[str, str]]:
    """Each token of the text (see module docstring) with the word it came from, as written."""
    stem = _stemmer().stemWord
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        value = match.group()
        if kind == "code":
            code = value.lower()
            yield code, value
            if "-" in code:
                yield code.replace("-", ""), value
        elif kind == "word":
            word = value.lower().strip("'")
            if word and word not in STOPWORDS:
                yield stem(word), value.strip("'")
        elif kind == "cjk":
            for piece in _jieba().cut_for_search(value):
                if piece.strip() and piece not in CHINESE_STOPWORDS:
                    yield piece, piece
        else:
            yield value, value


def tokenize(text: str) -> list[str]:
    """Tokens of one text (see module docstring), repeats kept (BM25 counts them)."""
    return [token for token, _ in _tokens_and_words(text)]


def tokenize_with_words(text: str) -> tuple[list[str], dict[str, str]]:
    """The text's tokens (as tokenize) and each distinct token with the first word it came from, as written.

    Retrieval matches stems; people read words: evidence shows "noise" where the index matched
    `nois`, and "AX-200" for both `ax-200` and `ax200`. One pass gives both, for a question.
    """
    tokens: list[str] = []
    words: dict[str, str] = {}
    for token, word in _tokens_and_words(text):
        tokens.append(token)
        words.setdefault(token, word)
    return tokens, words


def tokenize_many(texts: Sequence[str]) -> list[list[str]]:
    """Tokens of many texts."""
    return [tokenize(t) for t in texts]


def contains_chinese(text: str) -> bool:
    """True when the text has CJK ideographs."""
    return re.search(r"[\u3400-\u9fff]", text) is not None


def question_language(text: str) -> str:
    """The language a question is ranked as: "zh" when it has Chinese text, else "en" (the two KBCRM serves)."""
    return "zh" if contains_chinese(text) else "en"


def primary_language(tag: str | None) -> str:
    """A language tag's primary subtag, lower-case ("zh-CN" -> "zh"); "en" when absent."""
    return (tag or "en").split("-")[0].split("_")[0].lower() or "en"


def summary(text: str | None, length: int = 280) -> str:
    """A document's text on one line, cut at `length` characters (an ellipsis when cut): a result's summary."""
    line = " ".join((text or "").split())
    return line[:length] + ("…" if len(line) > length else "")
