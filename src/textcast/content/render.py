"""Personalisation: a template's text rendered for one contact.

Templates are written by users, so they run in Jinja's immutable sandbox and
are checked when saved: only output, conditions, variables, literals and an
allow-list of filters. No loops, no function calls, no multiplication, no
``set``: rendering is then linear in the template's size, so nothing a user
writes (``range(10**9)``, ``'x' * 10**9``, ``''.__class__``) can stall a
campaign or reach Python's internals. The output is capped, too.

What a template sees:

- ``contact``: ``phone``, ``country``, ``time_zone``, ``external_id``,
  ``tags``, and every attribute both as ``contact.<name>`` and as
  ``contact.attributes.<name>`` (``{{ contact.first_name | default("there") }}``);
- ``data``: the values the caller passed (``"data": {...}`` on a message,
  trigger properties in automations);
- the ``date`` filter: a date or ISO date/datetime, in the contact's zone
  (``{{ contact.renewal_date | date("%d %b") }}``).

A variable that is missing and has no ``default`` is an error for that one
recipient (:class:`RenderError` names it); previews collect every missing
variable instead (:func:`missing_variables`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.environment import Template
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from textcast.errors import TextcastError, ValidationFailed

MAX_OUTPUT = 10_000  # characters; ten SMS segments are 1,530
MAX_TEMPLATE = 5_000

ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Const,
    nodes.Filter,
    nodes.Test,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.CondExpr,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Neg,
    nodes.Pos,
    nodes.Keyword,
)
ALLOWED_FILTERS = frozenset(
    {"default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "round",
     "int", "float", "abs", "first", "last", "length", "string", "date"}
)  # fmt: skip
ALLOWED_NAMES = frozenset({"contact", "data", "true", "false", "none", "True", "False", "None"})


class RenderError(TextcastError):
    """A template that could not be rendered for one recipient; ``variable``
    names the missing one when that was the cause."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class Record:
    """A read-only bag of values a template reads with dots or brackets.

    Not a dict: ``contact.items`` must find an attribute called ``items``,
    not the dict method, and a missing key must name its whole path."""

    __slots__ = ("_nested", "_path", "_values")

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        self._path = path
        # Nested values are wrapped when first read, not here: a campaign
        # builds one of these per recipient and reads two or three of its values.
        self._values = values
        self._nested: dict[str, Record] | None = None

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        if not isinstance(value, Mapping):
            return value
        if self._nested is None:
            self._nested = {}
        found = self._nested.get(key)
        if found is None:  # one record per value, as when they were wrapped up front
            found = self._nested[key] = Record(f"{self._path}.{key}", value)
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __str__(self) -> str:
        return ", ".join(f"{k}={self[k]}" for k in self._values)


def contact_scope(
    *,
    phone: str,
    attributes: Mapping[str, Any],
    tags: Sequence[str] = (),
    country: str | None = None,
    time_zone: str | None = None,
    external_id: str | None = None,
) -> Record:
    """What a template reads as ``contact``: attributes first-class, then the
    built-in fields (which win over an attribute of the same name)."""
    built_in = {
        "phone": phone,
        "country": country,
        "time_zone": time_zone,
        "external_id": external_id,
        "tags": list(tags),
        "attributes": attributes,
    }
    return Record("contact", {**attributes, **built_in})


class _Missing(StrictUndefined):
    """Fails like StrictUndefined, with the whole path of what is missing as
    the message (``contact.attributes.plan``), so an error can name it."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        parent = getattr(self._undefined_obj, "_path", None)
        name = str(self._undefined_name)
        return f"{parent}.{name}" if isinstance(parent, str) else name


ZONE = "__zone__"  # where render() leaves the contact's zone for the date filter


@pass_context
def _date(context: Context, value: Any, fmt: str = "%Y-%m-%d") -> str:
    zone = context.get(ZONE)
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # names what is missing, like any other use
    if isinstance(value, Record) and not len(value):
        return ""  # a missing value a preview filled in (see _fill): look past it
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            raise RenderError(f"{value!r} is not an ISO date or datetime") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        value = aware.astimezone(zone) if zone else aware
    if not isinstance(value, date):
        raise RenderError(f"the date filter needs a date, not {type(value).__name__}")
    return value.strftime(fmt)


class _Environment(ImmutableSandboxedEnvironment):
    def __init__(self) -> None:
        super().__init__(undefined=_Missing, autoescape=False, keep_trailing_newline=True)
        self.filters = {name: f for name, f in self.filters.items() if name in ALLOWED_FILTERS}
        self.filters["date"] = _date
        self.globals.clear()


_ENVIRONMENT = _Environment()


# A plain template's pieces (see _plain_pieces): text as it is, or a contact
# field with its default (_NO_DEFAULT: none, a missing field is an error).
_NO_DEFAULT = object()
Piece = str | tuple[str, object]


@dataclass(frozen=True)
class Compiled:
    """A checked template, compiled once and rendered for many contacts.

    ``pieces`` is set when the template is plain — text and ``{{ contact.x }}``
    fields, each with or without a constant ``default`` — as most campaign
    texts are: those render by joining strings, without Jinja's machinery
    (a seventh of a campaign's fan-out CPU per recipient), to the very text
    and errors Jinja gives (a property test holds the two together)."""

    source: str
    template: Template
    pieces: tuple[Piece, ...] | None = None

    def render(self, contact: Record, data: Mapping[str, Any], zone: ZoneInfo | None) -> str:
        """The text for one recipient; :class:`RenderError` when it cannot be made."""
        if self.pieces is not None:
            return _join(self.pieces, contact)
        values = {"contact": contact, "data": Record("data", data), ZONE: zone}
        try:
            out: list[str] = []
            size = 0
            for piece in self.template.generate(values):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise _too_long()
                out.append(piece)
            return "".join(out)
        except RenderError:
            raise
        except UndefinedError as exc:
            raise _not_set(str(exc)) from None
        except (SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise _cannot_render(exc) from None


# The errors a render gives, one wording for Jinja's path and the plain one.
def _too_long() -> RenderError:
    return RenderError(f"the text is longer than {MAX_OUTPUT} characters")


def _not_set(path: str) -> RenderError:
    return RenderError(f"{path} is not set and has no default", variable=path)


def _cannot_render(exc: Exception) -> RenderError:
    return RenderError(f"cannot render: {exc}")


@lru_cache(maxsize=256)
def compile_template(source: str, field: str = "body") -> Compiled:
    """Check and compile ``source``; ``ValidationFailed`` naming ``field`` says
    what is not allowed (templates are checked when saved, not when sent)."""
    if len(source) > MAX_TEMPLATE:
        raise ValidationFailed(field, f"at most {MAX_TEMPLATE} characters")
    try:
        tree = _ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        message = f"template syntax error on line {exc.lineno}: {exc.message}"
        raise ValidationFailed(field, message) from None
    for node in tree.find_all(nodes.Node):
        _check_node(node, field)
    return Compiled(source, _ENVIRONMENT.from_string(tree), _plain_pieces(tree))


def _plain_pieces(tree: nodes.Template) -> tuple[Piece, ...] | None:
    """The template as text and contact fields, or None when it is more than
    that (conditions, filters other than a constant ``default``, ``data``,
    brackets, nested fields): Jinja renders those."""
    pieces: list[Piece] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append(child.data)
                continue
            default: object = _NO_DEFAULT
            node: nodes.Node | None = child
            if isinstance(child, nodes.Filter) and child.name in ("default", "d"):
                if child.kwargs or child.dyn_args or child.dyn_kwargs or len(child.args) > 1:
                    return None  # default(x, true) also replaces falsy values
                given = child.args[0] if child.args else nodes.Const("")
                if not isinstance(given, nodes.Const):
                    return None
                default, node = str(given.value), child.node
            if not (
                isinstance(node, nodes.Getattr)
                and isinstance(node.node, nodes.Name)
                and node.node.name == "contact"
            ):
                return None
            pieces.append((node.attr, default))
    return tuple(pieces)


def _join(pieces: tuple[Piece, ...], contact: Record) -> str:
    """A plain template's text for ``contact``, as Jinja's sandbox would make
    it: a field is the contact's value, ``str()`` of it (a nested value as
    its Record); a missing one its default, or the error Jinja's would be."""
    out: list[str] = []
    size = 0
    values = contact._values
    for piece in pieces:
        if isinstance(piece, str):
            text = piece
        else:
            key, default = piece
            value = values.get(key, _NO_DEFAULT)
            if type(value) is str:  # most fields: skip the Mapping check (an ABC's, slow)
                text = value
            elif value is not _NO_DEFAULT:
                try:
                    text = str(contact[key])
                except (TypeError, ValueError, ArithmeticError) as exc:  # as the Jinja path
                    raise _cannot_render(exc) from None
            elif default is _NO_DEFAULT:
                raise _not_set(f"contact.{key}")
            else:
                text = cast(str, default)
        size += len(text)
        if size > MAX_OUTPUT:
            raise _too_long()
        out.append(text)
    return "".join(out)


def _check_node(node: nodes.Node, field: str) -> None:
    if not isinstance(node, ALLOWED_NODES):
        what = {
            nodes.For: "loops",
            nodes.Call: "function calls",
            nodes.Mul: "multiplication",
            nodes.Pow: "powers",
            nodes.Assign: "set",
            nodes.Macro: "macros",
        }.get(type(node), f"{type(node).__name__} expressions")
        raise ValidationFailed(field, f"templates may not use {what}")
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        allowed = ", ".join(sorted(ALLOWED_FILTERS))
        raise ValidationFailed(field, f"unknown filter {node.name!r}; use one of: {allowed}")
    if isinstance(node, nodes.Test) and node.name not in ("defined", "undefined", "none"):
        raise ValidationFailed(field, f"unknown test {node.name!r}")
    if isinstance(node, nodes.Name) and node.name not in ALLOWED_NAMES:
        raise ValidationFailed(field, f"unknown name {node.name!r}: use contact.… or data.…")
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise ValidationFailed(field, f"{node.attr!r} is not a field a template may read")


def missing_variables(compiled: Compiled, contact: Record, data: Mapping[str, Any]) -> list[str]:
    """Every variable the text needs and the contact lacks (a preview lists
    them all, where sending stops at the first)."""
    missing: list[str] = []
    for _ in range(50):  # each round finds one; a template has few variables
        try:
            compiled.render(contact, data, None)
            return missing
        except RenderError as exc:
            if exc.variable is None or exc.variable in missing:
                return missing
            if missing and exc.variable.startswith(missing[-1] + "."):
                missing[-1] = exc.variable  # a field of what was filled: name the leaf
            else:
                missing.append(exc.variable)
            contact, data = _fill(exc.variable, contact, data)
    return missing


def _fill(path: str, contact: Record, data: Mapping[str, Any]) -> tuple[Record, Mapping[str, Any]]:
    """``contact`` and ``data`` with an empty record at ``path`` (it renders as
    nothing, and a field read from it is reported in turn), to look past it."""
    root, *rest = path.split(".")
    if root == "data":
        return contact, _with(_plain(data), rest, {})
    return Record("contact", _with(_plain(contact._values), rest, {})), data


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v._values) if isinstance(v, Record) else v for k, v in values.items()}


def _with(values: dict[str, Any], path: list[str], filler: Any) -> dict[str, Any]:
    if not path:
        return values
    head, *tail = path
    if not tail:
        values[head] = filler
        return values
    inner = values.get(head)
    values[head] = _with(dict(inner) if isinstance(inner, dict) else {}, tail, filler)
    return values
