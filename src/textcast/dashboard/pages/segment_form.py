"""The segment builder's form: a rule tree as nested groups of conditions,
and back.

The page shows each group (all / any / not) and condition (field, operator,
value) as inputs named after the node's place in the tree (``n``, ``n.0``,
``n.0.2``), so a plain form post carries the whole tree and the builder
works without JavaScript: adding or removing a condition or group is a
submit button that the server applies before showing the form again.

Nothing here judges a rule: the tree is turned into the rule language's JSON
and :func:`textcast.audience.rules.parse` decides, as it does for the API;
its refusal names a place in the JSON (``rules.all[1].value``), which
:func:`errors_for` puts back next to that input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from textcast.audience import rules
from textcast.errors import ValidationFailed

ROOT = "n"
GROUP_KINDS = (("all", "all of these"), ("any", "any of these"), ("not", "none of these"))
ATTRIBUTE = "attribute"
ACTIVITY = "activity:"
FIELD_CHOICES = (
    ("tags", "tag"),
    (ATTRIBUTE, "attribute…"),
    *((f, f) for f in rules.FIELD_OPS),
    *((f"{ACTIVITY}{a}", f"activity: {a}") for a in rules.ACTIVITIES),
)
EVER = "ever"
OPERATORS = (
    ("eq", "is"),
    ("ne", "is not"),
    ("in", "is one of"),
    ("not_in", "is none of"),
    ("has", "has"),
    ("has_not", "has not"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("exists", "exists (true/false)"),
    ("gt", ">"),
    ("gte", "≥"),
    ("lt", "<"),
    ("lte", "≤"),
    ("within_last", "within the last"),
    ("within_next", "within the next"),
    (EVER, "ever"),
)
_PLAIN_SCALAR = re.compile(r"-?[0-9]+(\.[0-9]+)?|true|false")


@dataclass
class Node:
    """A group (``kind`` all / any / not, with ``children``) or a condition."""

    id: str = ROOT
    kind: str = "all"  # a group's; "condition" for a condition
    children: list[Node] = field(default_factory=list)
    field: str = "tags"
    name: str = ""  # an attribute's name, or an activity's campaign
    op: str = "has"
    value: str = ""

    @property
    def is_group(self) -> bool:
        return self.kind != "condition"


def empty() -> Node:
    return Node()


def renumber(node: Node, node_id: str = ROOT) -> Node:
    node.id = node_id
    for i, child in enumerate(node.children):
        renumber(child, f"{node_id}.{i}")
    return node


# --- form ↔ tree -------------------------------------------------------------------


def from_form(form: Mapping[str, Any], ids: list[str]) -> Node:
    """The tree the posted form describes (``ids``: every ``node`` input, in page order)."""
    nodes: dict[str, Node] = {}
    root = Node()
    for node_id in ids:
        if node_id != ROOT and not node_id.startswith(ROOT + "."):
            continue
        if form.get(f"type-{node_id}") == "group":
            kind = str(form.get(f"kind-{node_id}", "all"))
            node = Node(node_id, kind if kind in ("all", "any", "not") else "all")
        else:
            node = Node(
                node_id,
                "condition",
                field=str(form.get(f"field-{node_id}", "tags")),
                name=str(form.get(f"name-{node_id}", "")),
                op=str(form.get(f"op-{node_id}", "eq")),
                value=str(form.get(f"value-{node_id}", "")),
            )
        nodes[node_id] = node
        if node_id == ROOT:
            root = node if node.is_group else Node(children=[node])
        else:
            parent = nodes.get(node_id.rsplit(".", 1)[0])
            if parent is not None and parent.is_group:
                parent.children.append(node)
    return renumber(root)


def apply_edit(root: Node, edit: str) -> Node:
    """Add a condition or group to a group, or remove a node (``add-condition:n.1``)."""
    action, _, target = edit.partition(":")
    found = _find(root, target)
    if found is None:
        return root
    if action == "add-condition" and found.is_group:
        found.children.append(Node("", "condition"))
    elif action == "add-group" and found.is_group:
        found.children.append(Node("", "any", [Node("", "condition")]))
    elif action == "remove" and target != ROOT:
        parent = _find(root, target.rsplit(".", 1)[0])
        if parent is not None:
            parent.children = [c for c in parent.children if c.id != target]
    return renumber(root)


def _find(node: Node, node_id: str) -> Node | None:
    if node.id == node_id:
        return node
    for child in node.children:
        hit = _find(child, node_id)
        if hit is not None:
            return hit
    return None


# --- tree ↔ rule JSON --------------------------------------------------------------


def to_rules(root: Node) -> tuple[dict[str, Any], dict[str, Node]]:
    """The rule language's JSON, and where each node sits in it (JSON path → node)."""
    places: dict[str, Node] = {}
    return _rule(root, "rules", places), places


def _rule(node: Node, path: str, places: dict[str, Node]) -> dict[str, Any]:
    places[path] = node
    if not node.is_group:
        return _condition(node)
    if node.kind == "not":
        if len(node.children) == 1:
            return {"not": _rule(node.children[0], f"{path}.not", places)}
        items = [_rule(c, f"{path}.not.any[{i}]", places) for i, c in enumerate(node.children)]
        return {"not": {"any": items}}
    key = node.kind
    return {key: [_rule(c, f"{path}.{key}[{i}]", places) for i, c in enumerate(node.children)]}


def _condition(node: Node) -> dict[str, Any]:
    if node.field.startswith(ACTIVITY):
        rule: dict[str, Any] = {"activity": node.field.removeprefix(ACTIVITY)}
        if node.name.strip():
            rule["campaign"] = node.name.strip()
        if node.op != EVER and node.value.strip():
            rule["within_last"] = node.value.strip()
        return rule
    name = f"attributes.{node.name.strip()}" if node.field == ATTRIBUTE else node.field
    rule = {"field": name, "op": node.op}
    text = node.value.strip()
    if node.op in ("in", "not_in"):
        rule["value"] = [_scalar(v.strip(), node) for v in text.split(",") if v.strip()]
    elif node.op == "exists" or node.field == "opted_out":
        if text or node.op != "exists":
            rule["value"] = {"true": True, "false": False}.get(text.lower(), text)
    else:
        rule["value"] = _scalar(text, node)
    return rule


def _scalar(text: str, node: Node) -> Any:
    """An attribute's value as typed: a number or true/false unless quoted;
    every other field compares with text."""
    if node.field != ATTRIBUTE:
        return text
    if _PLAIN_SCALAR.fullmatch(text):
        return json.loads(text)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def from_rules(raw: object) -> Node:
    """The tree of a saved rule (a condition alone becomes a group of one)."""
    node = _node(raw)
    return renumber(node if node.is_group else Node(children=[node]))


def _node(raw: object) -> Node:
    if not isinstance(raw, Mapping):
        raise ValidationFailed("rules", "a rule is a JSON object")
    for kind in ("all", "any"):
        if isinstance(raw.get(kind), list):
            return Node("", kind, [_node(item) for item in raw[kind]])
    if "not" in raw:
        inner = raw["not"]
        if isinstance(inner, Mapping) and isinstance(inner.get("any"), list) and len(inner) == 1:
            return Node("", "not", [_node(item) for item in inner["any"]])
        return Node("", "not", [_node(inner)])
    if "activity" in raw:
        within = raw.get("within_last")
        return Node(
            "",
            "condition",
            field=f"{ACTIVITY}{raw['activity']}",
            name=str(raw.get("campaign") or ""),
            op="within_last" if within else EVER,
            value=str(within or ""),
        )
    name = str(raw.get("field", ""))
    is_attribute = name.startswith("attributes.")
    return Node(
        "",
        "condition",
        field=ATTRIBUTE if is_attribute else name,
        name=name.removeprefix("attributes.") if is_attribute else "",
        op=str(raw.get("op", "")),
        value=_shown(raw.get("value"), is_attribute),
    )


def _shown(value: object, is_attribute: bool) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v, is_attribute) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if is_attribute and isinstance(value, str) and _PLAIN_SCALAR.fullmatch(value):
        return f'"{value}"'  # text that reads like a number stays text
    return str(value)


# --- refusals next to their inputs -----------------------------------------------------

_INPUT_OF = {
    "value": "value",
    "op": "op",
    "field": "field",
    "activity": "field",
    "campaign": "name",
    "within_last": "value",
}


def errors_for(exc: ValidationFailed, places: dict[str, Node]) -> dict[str, str]:
    """``rules.all[1].value`` → ``{"value-n.1": message}``; a group's own
    refusal goes next to its kind."""
    for path in sorted(places, key=len, reverse=True):
        node = places[path]
        if exc.field == path:
            return {f"{'kind' if node.is_group else 'field'}-{node.id}": exc.message}
        if exc.field.startswith(path + "."):
            head = re.split(r"[.\[]", exc.field.removeprefix(path + "."), maxsplit=1)[0]
            if head in ("all", "any", "not"):
                return {f"kind-{node.id}": exc.message}
            return {f"{_INPUT_OF.get(head, 'value')}-{node.id}": exc.message}
    return {"rules": f"{exc.field}: {exc.message}"}
