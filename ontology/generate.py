"""Regenerate `ontology/terms.py` from `kbcrm.ttl`: `python -m ontology.generate`."""

from __future__ import annotations

import keyword
from pathlib import Path

from ontology import load_vocabulary

TERMS_PATH = Path(__file__).with_name("terms.py")


def _attr(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def render_terms() -> str:
    """The source text of terms.py for the current ontology."""
    vocabulary = load_vocabulary()
    lines = [
        '"""Graph vocabulary as Python constants, GENERATED from kbcrm.ttl.',
        "",
        "Regenerate with `python -m ontology.generate`; do not edit by hand (a test checks it is current).",
        '"""',
        "",
        "from typing import Final",
        "",
        "",
        "class Label:",
        '    """Node labels."""',
        "",
    ]
    lines += [f'    {_attr(n)}: Final = "{n}"' for n in sorted(vocabulary.labels)]
    lines += ["", "", "class Rel:", '    """Relationship types."""', ""]
    lines += [f'    {_attr(n)}: Final = "{n}"' for n in sorted(vocabulary.relationships)]
    lines += ["", "", "class Prop:", '    """Property names."""', ""]
    lines += [f'    {_attr(n)}: Final = "{n}"' for n in sorted(vocabulary.properties)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write terms.py."""
    TERMS_PATH.write_text(render_terms(), encoding="utf-8")
    print(f"wrote {TERMS_PATH}")


if __name__ == "__main__":
    main()
