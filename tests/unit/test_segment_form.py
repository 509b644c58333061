"""The segment builder's form and the rule language: a saved rule comes back
from its form unchanged, edits land where the button says, and the rule
service's refusal is put next to the input it is about."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from textcast.audience import rules
from textcast.dashboard.pages import segment_form
from textcast.dashboard.pages.segment_form import Node
from textcast.errors import ValidationFailed

SAVED: dict[str, Any] = {
    "all": [
        {"field": "tags", "op": "has", "value": "vip"},
        {
            "not": {
                "any": [
                    {"field": "attributes.age", "op": "gt", "value": 30},
                    {"field": "attributes.code", "op": "eq", "value": "42"},
                    {"activity": "clicked", "campaign": "spring", "within_last": "30d"},
                ]
            }
        },
        {"not": {"field": "country", "op": "in", "value": ["US", "GB"]}},
        {"any": [{"field": "opted_out", "op": "eq", "value": False}]},
    ]
}


def _as_form(node: Node) -> list[tuple[str, str]]:
    """What the page's inputs post for ``node`` (in page order)."""
    items = [("node", node.id)]
    if node.is_group:
        items += [(f"type-{node.id}", "group"), (f"kind-{node.id}", node.kind)]
        for child in node.children:
            items += _as_form(child)
        return items
    items.append((f"type-{node.id}", "condition"))
    items += [(f"{k}-{node.id}", getattr(node, k)) for k in ("field", "name", "op", "value")]
    return items


def _posted(node: Node) -> Node:
    form = FormData(_as_form(node))
    return segment_form.from_form(form, [str(v) for v in form.getlist("node")])


def test_a_saved_rule_survives_its_form() -> None:
    rules.parse(SAVED)
    raw, _ = segment_form.to_rules(_posted(segment_form.from_rules(SAVED)))
    assert raw == SAVED


def test_a_lone_condition_becomes_a_group_of_one() -> None:
    condition = {"field": "tags", "op": "has", "value": "vip"}
    raw, _ = segment_form.to_rules(segment_form.from_rules(condition))
    assert raw == {"all": [condition]}


def test_edits_add_and_remove_where_the_button_says() -> None:
    tree = segment_form.from_rules(SAVED)
    tree = segment_form.apply_edit(tree, "add-condition:n.1")
    assert [c.id for c in tree.children[1].children] == ["n.1.0", "n.1.1", "n.1.2", "n.1.3"]
    tree = segment_form.apply_edit(tree, "remove:n.0")
    assert tree.children[0].kind == "not" and tree.children[0].id == "n.0"
    tree = segment_form.apply_edit(tree, "add-group:n")
    assert tree.children[-1].kind == "any" and len(tree.children[-1].children) == 1
    assert segment_form.apply_edit(tree, "remove:n") is tree  # the root stays


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"value": "old"}, "value-n.1.0"),  # gt on text that is no date
        ({"op": "has"}, "op-n.1.0"),  # tags' operator on an attribute
        ({"name": "2bad"}, "field-n.1.0"),  # not an attribute name
    ],
)
def test_a_refusal_is_put_next_to_its_input(change: dict[str, str], where: str) -> None:
    tree = segment_form.from_rules(SAVED)
    condition = tree.children[1].children[0]
    for key, value in change.items():
        setattr(condition, key, value)
    raw, places = segment_form.to_rules(tree)
    with pytest.raises(ValidationFailed) as refused:
        rules.parse(raw)
    assert list(segment_form.errors_for(refused.value, places)) == [where]


def test_an_empty_any_group_is_refused_at_its_kind() -> None:
    tree = segment_form.from_rules(
        {"all": [{"any": [{"field": "tags", "op": "has", "value": "x"}]}]}
    )
    tree = segment_form.apply_edit(tree, "remove:n.0.0")
    raw, places = segment_form.to_rules(tree)
    with pytest.raises(ValidationFailed) as refused:
        rules.parse(raw)
    assert list(segment_form.errors_for(refused.value, places)) == ["kind-n.0"]
