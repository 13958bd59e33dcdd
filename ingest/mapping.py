"""Column mapping files (YAML): how a source export's columns become graph properties.

```yaml
source_system: sales          # which department / system the file comes from
label: SourceRecord           # node label the rows become
format: csv                   # csv | json (JSON array or JSON lines); default from the file name
delimiter: ","                # CSV only; sniffed from the header when absent
key: sales_id                 # column (dotted path for JSON) holding the stable source key
fields:                       # graph property: {from: column, type: …, required: …, values: …}
  name: {from: name, required: true}
  email: {from: email, type: email}
  priority: {from: urgency, values: {urgent: P1, high: P2}}  # source value -> stored value
  aliases: {from: aliases, type: list}                       # "a;b" (or a JSON array) -> ["a", "b"]
links:                        # relationships each row gets; a required link's target must exist
  - {rel: ACCOUNT_MANAGER, from: owner_id, label: Employee, match: id, required: false}
  - {rel: HAS_NOTE, from: ticket_id, label: ServiceCase, match: id, prefix: "zendesk:", direction: in}
  - {rel: HAS_COMPONENT, from: components, label: Component, many: true, required: false}  # "c1;c2"
update_only: false            # true: a row must name an existing node (edits, never new nodes)
```

`values` translates another system's codes (matched case-insensitively; JSON true/false as
"true"/"false"); a value it does not list is stored as it is, so the ontology's value sets
still quarantine a code nobody mapped. A link's `prefix` is put before the column's value
when matching (the target's id is "zendesk:35436", the column says 35436).

A row's empty optional link column means "no such relationship"; when a stored row is
updated, its old relationship of that type is replaced (or removed), so an exported file
edited in a spreadsheet and imported again moves an opportunity to its new owner.

A `many` link's column lists several targets, separated by `;` (a JSON array in JSON
sources): the row gets one relationship to each, every one must exist, and an updated row's
relationships of that type are made to match the list.

Types: string (default), integer, decimal, boolean, date, datetime, email, phone, country,
and list (for the ontology's list properties only, which must be mapped as lists: items
separated by `;`, or a JSON array; `values` applies to each item). Closed value sets declared
in the ontology (kb:allowedValues) are enforced as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ontology import load_vocabulary
from ontology.shapes import rules_for

MAPPINGS_DIR = Path(__file__).parent / "mappings"
TYPES = {"string", "integer", "decimal", "boolean", "date", "datetime", "email", "phone", "country", "list"}


class MappingError(Exception):
    """A mapping file is malformed or names something the ontology does not declare."""


@dataclass(frozen=True)
class FieldMapping:
    """One graph property and where it comes from."""

    property: str
    source: str
    type: str = "string"
    required: bool = False
    values: tuple[tuple[str, str], ...] = ()  # (source value lower-cased, stored value)

    def translate(self, value: Any) -> Any:
        """The stored value for a source value: `values` applied, anything unlisted unchanged."""
        if not self.values:
            return value
        text = str(value).strip().lower()
        return next((stored for source, stored in self.values if source == text), value)


@dataclass(frozen=True)
class LinkMapping:
    """A relationship each row gets: to the customer a department record resolved to, or to a matched node."""

    rel: str
    source: str
    label: str
    match: str
    direction: str  # "in": (target)-[rel]->(row's node); "out": (row's node)-[rel]->(target)
    customer_of: str | None = None
    required: bool = True
    prefix: str = ""  # put before the column's value to get the target's `match` value
    many: bool = False  # the column lists several targets (`;`-separated, or a JSON array)


@dataclass(frozen=True)
class Mapping:
    """A parsed, ontology-checked mapping file."""

    path: Path
    source_system: str
    label: str
    key: tuple[str, ...]
    fields: tuple[FieldMapping, ...]
    format: str | None = None
    delimiter: str | None = None
    links: tuple[LinkMapping, ...] = ()
    id_prefix: str | None = None
    key_separator: str = "|"
    update_only: bool = False

    @property
    def columns(self) -> list[str]:
        """Top-level source columns the mapping reads (for header checks)."""
        used = [*self.key, *(f.source for f in self.fields), *(link.source for link in self.links)]
        return sorted({c.split(".")[0] for c in used})

    def node_id(self, key: str) -> str:
        """The graph id of a record with this source key (default prefix: the source system)."""
        prefix = f"{self.source_system}:" if self.id_prefix is None else self.id_prefix
        return f"{prefix}{key}"


def resolve(name_or_path: str | Path) -> Path:
    """A mapping file path, or the name of a bundled mapping (`sales`, `service`, `billing`)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    known = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
    raise MappingError(f"{name_or_path}: no such mapping file (bundled mappings: {known})")


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Read and check a mapping file."""
    path = resolve(name_or_path)
    try:
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({exc})") from None
    for required in ("source_system", "label", "key", "fields"):
        if required not in raw:
            raise MappingError(f"{path}: missing '{required}'")
    vocabulary = load_vocabulary()
    label = str(raw["label"])
    if label not in vocabulary.labels:
        raise MappingError(f"{path}: label {label!r} is not declared in the ontology")
    allowed = vocabulary.properties_of(label)
    fields = []
    for prop, spec in (raw["fields"] or {}).items():
        spec = {"from": spec} if isinstance(spec, str) else dict(spec or {})
        if prop not in allowed:
            raise MappingError(f"{path}: field {prop!r} is not a property of {label} in the ontology")
        kind = str(spec.get("type", "string"))
        if kind not in TYPES:
            raise MappingError(f"{path}: field {prop!r}: unknown type {kind!r} (use one of {', '.join(sorted(TYPES))})")
        if "from" not in spec:
            raise MappingError(f"{path}: field {prop!r} needs 'from' (the source column)")
        if (kind == "list") != vocabulary.properties[prop].is_list:
            need = "is a list in the ontology: use type: list" if kind != "list" else "is not a list in the ontology"
            raise MappingError(f"{path}: field {prop!r} {need}")
        values = _values(path, prop, spec.get("values"), label)
        fields.append(FieldMapping(prop, str(spec["from"]), kind, bool(spec.get("required", False)), values))
    links = tuple(_link(path, label, spec) for spec in raw.get("links") or [])
    if raw.get("update_only") and links:
        raise MappingError(f"{path}: an update_only mapping changes fields of existing records and cannot have links")
    if not raw.get("update_only"):
        mapped = {f.property for f in fields} | {"id", "source_system", "source_key"}  # the last three: set by ingest
        for rule in rules_for(label):
            if rule.min_count and rule.property not in mapped:
                raise MappingError(
                    f"{path}: the ontology's {rule.shape} requires '{rule.property}' on every {label}: "
                    "map a column to it"
                )
    keys = raw["key"] if isinstance(raw["key"], list) else [raw["key"]]
    return Mapping(
        path=path,
        source_system=str(raw["source_system"]),
        label=label,
        key=tuple(str(k) for k in keys),
        links=links,
        id_prefix=None if raw.get("id_prefix") is None else str(raw["id_prefix"]),
        key_separator=str(raw.get("key_separator", "|")),
        fields=tuple(fields),
        format=raw.get("format"),
        delimiter=raw.get("delimiter"),
        update_only=bool(raw.get("update_only", False)),
    )


def _values(path: Path, prop: str, spec: Any, label: str) -> tuple[tuple[str, str], ...]:
    """A field's `values:` table, each stored value checked against the ontology's value sets and shapes."""
    if spec is None:
        return ()
    if not isinstance(spec, dict) or not spec:
        raise MappingError(f"{path}: field {prop!r}: 'values' must map source values to stored values")
    allowed = set(load_vocabulary().properties[prop].allowed_values)
    for rule in rules_for(label):
        if rule.property == prop and rule.allowed:
            allowed = allowed & set(rule.allowed) if allowed else set(rule.allowed)
    out = []
    for source, stored in spec.items():
        # YAML reads true/false/yes/no as booleans: compare as JSON spells them.
        key = str(source).lower() if not isinstance(source, bool) else ("true" if source else "false")
        if allowed and str(stored) not in allowed:
            raise MappingError(
                f"{path}: field {prop!r}: {source!r} maps to {stored!r}, not one of {', '.join(sorted(allowed))}"
            )
        out.append((key, str(stored)))
    return tuple(out)


def _link(path: Path, label: str, spec: dict[str, Any]) -> LinkMapping:
    """Check one `links:` entry against the ontology (type, direction, domain and range)."""
    vocabulary = load_vocabulary()
    rel = str(spec.get("rel", ""))
    if rel not in vocabulary.relationships:
        raise MappingError(f"{path}: link {rel!r} is not a relationship type of the ontology")
    if "from" not in spec:
        raise MappingError(f"{path}: link {rel}: needs 'from' (the source column)")
    customer_of = spec.get("customer_of")
    target = "Customer" if customer_of else str(spec.get("label", ""))
    if target not in vocabulary.labels:
        raise MappingError(f"{path}: link {rel}: label {target!r} is not declared in the ontology")
    match = "id" if customer_of else str(spec.get("match", "id"))
    if match not in vocabulary.properties_of(target):
        raise MappingError(f"{path}: link {rel}: {match!r} is not a property of {target}")
    many = bool(spec.get("many", False))
    if many and customer_of:
        raise MappingError(f"{path}: link {rel}: a customer_of link names one customer; 'many' does not apply")
    direction = str(spec.get("direction", "in" if customer_of else "out"))
    if direction not in ("in", "out"):
        raise MappingError(f"{path}: link {rel}: direction must be 'in' or 'out'")
    start, end = (target, label) if direction == "in" else (label, target)
    info = vocabulary.relationships[rel]
    if not (vocabulary.ancestors(start) & info.domain and vocabulary.ancestors(end) & info.range):
        raise MappingError(f"{path}: link {rel}: the ontology has no {rel} from {start} to {end}")
    return LinkMapping(
        rel,
        str(spec["from"]),
        target,
        match,
        direction,
        str(customer_of) if customer_of else None,
        required=bool(spec.get("required", True)),
        prefix=str(spec.get("prefix") or ""),
        many=many,
    )
