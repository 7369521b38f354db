"""A small, safe evaluator for the Go text/template forms CoreDNS's template plugin documents.

Only what CoreDNS's README shows is understood, and nothing can run code:

* text, and actions ``{{ PIPELINE }}`` (with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``);
* a pipeline is commands joined by ``|``; the value of each is passed as the last argument of the next;
* a command is an operand, or a function (``index``, ``parseInt``) with operand arguments,
  or the method ``.Meta NAME``;
* an operand is a field chain (``.Name``, ``.Group.a``, ``.Question.Name``), a string
  (``"..."`` or a raw string), an integer, or a parenthesised pipeline.

``if``/``range``/``with``, variables (``$x``) and any other function are refused when the
template is compiled, with the reason, so a Corefile with them fails at start instead of at the
first query.  A field the data does not have is, as in Go, an error when the template runs, not
when it is compiled.  Values print as Go prints them: a missing map key as ``<no value>``, a
list as ``[a b]``, a map as ``map[k:v]``.  ``Template.tree`` is the template as Go prints its
parse tree (``Tree.Root.String()``), the text CoreDNS puts in its failure metrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

NO_VALUE = "<no value>"
LEAF, MAP = "leaf", "map"
FieldSpec: TypeAlias = Mapping[str, object]


class TemplateSyntaxError(ValueError):
    """The template cannot be compiled: the message says what and where (byte offset)."""


class TemplateExecError(ValueError):
    """Running the template failed (a bad ``parseInt`` argument, an index out of range)."""


@dataclass(frozen=True, slots=True)
class Field:
    path: tuple[str, ...]  # () is the dot itself


@dataclass(frozen=True, slots=True)
class BadField:
    """A field the data does not have: running the template fails (Go checks fields at run time)."""

    path: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int
    text: str  # as written, for the tree text


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Node, ...]  # each a Call, a Field, a Literal or a Paren


@dataclass(frozen=True, slots=True)
class Paren:
    inner: Node


Node: TypeAlias = Union[Field, BadField, Literal, Call, Pipeline, Paren]  # noqa: UP007


def _parse_int(text: Any, base: Any, bits: Any) -> int:
    """Go's strconv.ParseUint(s, base, bitSize): unsigned, base 0 reads a 0x/0o/0b prefix."""
    if not isinstance(text, str) or not isinstance(base, int) or not isinstance(bits, int):
        raise TemplateExecError("parseInt wants a string, a base and a bit size")
    if not 0 <= bits <= 64 or base == 1 or not 0 <= base <= 36:
        raise TemplateExecError(f"parseInt: invalid base {base} or bit size {bits}")
    cleaned = text.replace("_", "") if base == 0 else text
    try:
        value = int(cleaned, base)
    except ValueError:
        raise TemplateExecError(f'strconv.ParseUint: parsing "{text}": invalid syntax') from None
    if value < 0 or text.startswith(("+", "-")):
        raise TemplateExecError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if value >= 1 << (bits or 64):
        raise TemplateExecError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, "")  # Go's index on a map gives the zero value
        elif isinstance(item, Sequence) and not isinstance(item, str):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateExecError(f"error calling index: index out of range: {key}")
            item = item[key]
        else:
            raise TemplateExecError(f"can't index item of type {type(item).__name__}")
    return item


def _meta(*args: Any) -> str:
    """``.Meta NAME``: a metadata value; clusterdns has no metadata plugin, so always "" (as
    CoreDNS answers when its *metadata* plugin is not enabled)."""
    if len(args) != 1:
        raise TemplateExecError(f"wrong number of args for Meta: want 1 got {len(args)}")
    if not isinstance(args[0], str):
        raise TemplateExecError("wrong type for value; expected string")
    return ""


FUNCTIONS: dict[str, tuple[Callable[..., Any], int | None]] = {
    "index": (_index, None),  # at least one argument
    "parseInt": (_parse_int, 3),
}
META = ".Meta"  # the one method of CoreDNS's template data

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.(?![A-Za-z0-9_]))
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|\d+))(?![\w.])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[()|])
      | (?P<bad>\S+)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "a": "\a", "0": "\0"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


class Template:
    """A compiled template: text pieces and actions, and the top-level fields it reads."""

    __slots__ = ("source", "parts", "fields", "tree")

    def __init__(self, source: str, fields: FieldSpec) -> None:
        """Compile ``source``; ``fields`` names the data's fields: each is ``LEAF``, ``MAP``
        (any key may follow) or a mapping of its own fields."""
        self.source = source
        self.parts: list[str | Node] = []
        self.fields: set[str] = set()
        self._compile(fields)
        self.tree = "".join(
            p if isinstance(p, str) else "{{" + tree_text(p) + "}}" for p in self.parts
        )

    # -- compiling -----------------------------------------------------------

    def _compile(self, fields: FieldSpec) -> None:
        text = self.source
        position = 0
        while True:
            start = text.find("{{", position)
            if start < 0:
                self._text(text[position:])
                return
            end = self._action_end(text, start)
            inner = text[start + 2 : end]
            literal = text[position:start]
            if inner.startswith("- ") or inner == "-":
                literal = literal.rstrip()
                inner = inner[1:]
            trim_after = inner.endswith(" -") or inner == "-"
            if trim_after:
                inner = inner[:-1]
            self._text(literal)
            position = end + 2
            if trim_after:
                while position < len(text) and text[position].isspace():
                    position += 1
            stripped = inner.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise TemplateSyntaxError(f"unclosed comment at offset {start}")
                continue
            self.parts.append(self._pipeline(stripped, start, fields))

    def _text(self, piece: str) -> None:
        if piece:
            self.parts.append(piece)

    def _action_end(self, text: str, start: int) -> int:
        index = start + 2
        quote = ""
        while index < len(text):
            char = text[index]
            if quote:
                if char == "\\" and quote == '"':
                    index += 2
                    continue
                if char == quote:
                    quote = ""
            elif char in '"`':
                quote = char
            elif text.startswith("}}", index):
                return index
            index += 1
        raise TemplateSyntaxError(f"unclosed action at offset {start}")

    def _pipeline(self, source: str, offset: int, fields: FieldSpec) -> Node:
        tokens = [
            (kind, value)
            for match in _TOKEN.finditer(source)
            for kind, value in match.groupdict().items()
            if value is not None
        ]
        if not tokens:
            raise TemplateSyntaxError(f"missing value for command at offset {offset}")
        node, rest = self._parse_pipeline(tokens, offset, fields)
        if rest:
            raise TemplateSyntaxError(f"unexpected {rest[0][1]!r} in action at offset {offset}")
        return node

    def _parse_pipeline(
        self,
        tokens: list[tuple[str, str]],
        offset: int,
        fields: FieldSpec,
    ) -> tuple[Node, list[tuple[str, str]]]:
        commands: list[Node] = []
        while True:
            command, tokens = self._parse_command(tokens, offset, fields, piped=bool(commands))
            commands.append(command)
            if tokens and tokens[0] == ("punct", "|"):
                tokens = tokens[1:]
                continue
            break
        return (commands[0] if len(commands) == 1 else Pipeline(tuple(commands))), tokens

    def _parse_command(
        self,
        tokens: list[tuple[str, str]],
        offset: int,
        fields: FieldSpec,
        piped: bool,
    ) -> tuple[Node, list[tuple[str, str]]]:
        if not tokens:
            raise TemplateSyntaxError(f"missing command at offset {offset}")
        kind, value = tokens[0]
        if (kind, value) == ("field", META):
            meta_args: list[Node] = []
            tokens = tokens[1:]
            while tokens and tokens[0] not in (("punct", "|"), ("punct", ")")):
                operand, tokens = self._parse_operand(tokens, offset, fields)
                meta_args.append(operand)
            self.fields.add("Meta")
            return Call(META, tuple(meta_args)), tokens
        if kind == "ident":
            if value in ("if", "range", "with", "define", "template", "block", "else", "end"):
                raise TemplateSyntaxError(f"{{{{{value}}}}} is not supported here")
            if value not in FUNCTIONS:
                raise TemplateSyntaxError(f'function "{value}" not defined')
            args: list[Node] = []
            tokens = tokens[1:]
            while tokens and tokens[0] not in (("punct", "|"), ("punct", ")")):
                operand, tokens = self._parse_operand(tokens, offset, fields)
                args.append(operand)
            # the number of arguments is checked when the template runs, as Go does
            return Call(value, tuple(args)), tokens
        if piped:
            raise TemplateSyntaxError(
                f"non executable command in pipeline stage at offset {offset}"
            )
        operand, tokens = self._parse_operand(tokens, offset, fields)
        if tokens and tokens[0] not in (("punct", "|"), ("punct", ")")):
            raise TemplateSyntaxError(f"can't give argument to non-function at offset {offset}")
        return operand, tokens

    def _parse_operand(
        self,
        tokens: list[tuple[str, str]],
        offset: int,
        fields: FieldSpec,
    ) -> tuple[Node, list[tuple[str, str]]]:
        kind, value = tokens[0]
        rest = tokens[1:]
        if kind == "field":
            path = tuple(p for p in value.split(".") if p)
            reason = self._check_field(path, fields)
            return (Field(path) if reason is None else BadField(path, reason)), rest
        if kind == "string":
            return Literal(_unquote(value), value), rest
        if kind == "raw":
            return Literal(value[1:-1], value), rest
        if kind == "number":
            return Literal(int(value, 0), value), rest
        if (kind, value) == ("punct", "("):
            node, rest = self._parse_pipeline(rest, offset, fields)
            if not rest or rest[0] != ("punct", ")"):
                raise TemplateSyntaxError(f"unclosed left paren at offset {offset}")
            return Paren(node), rest[1:]
        if kind == "ident":
            raise TemplateSyntaxError(f"function {value!r} used as an argument needs parentheses")
        if value.startswith("$"):
            raise TemplateSyntaxError(f"template variables ({value}) are not supported")
        raise TemplateSyntaxError(f"unexpected {value!r} in operand at offset {offset}")

    def _check_field(self, path: tuple[str, ...], fields: FieldSpec) -> str | None:
        """Why the data has no such field, or None when it has."""
        spec: object = fields
        for depth, name in enumerate(path):
            if spec == MAP:
                return None  # any key may be asked for
            if not isinstance(spec, Mapping):
                where = ".".join(path[:depth])
                return f"can't evaluate field {name} in type string (.{where})"
            if name not in spec:
                where = "." + ".".join(path[:depth]) if depth else "the template data"
                return f"can't evaluate field {name} in {where}"
            if depth == 0:
                self.fields.add(name)
            spec = spec[name]
        return None

    # -- running -------------------------------------------------------------

    def execute(self, data: Mapping[str, Any]) -> str:
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else to_text(_evaluate(part, data)))
        return "".join(out)


_NOTHING = object()


def _evaluate(node: Node, data: Mapping[str, Any], piped: Any = _NOTHING) -> Any:
    if isinstance(node, Field):
        item: Any = data
        for name in node.path:
            if isinstance(item, Mapping):
                item = item.get(name, _NOTHING)
                if item is _NOTHING:
                    return None
            else:
                item = getattr(item, name, None)
        return item
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, BadField):
        raise TemplateExecError(f"executing at <.{'.'.join(node.path)}>: {node.reason}")
    if isinstance(node, Paren):
        return _evaluate(node.inner, data)
    if isinstance(node, Pipeline):
        value: Any = _NOTHING
        for command in node.commands:
            value = _evaluate(command, data, value)
        return value
    function, arity = (_meta, None) if node.function == META else FUNCTIONS[node.function]
    args = [_evaluate(a, data) for a in node.args]
    if piped is not _NOTHING:
        args.append(piped)
    if (arity is not None and len(args) != arity) or not args:
        want = arity or "at least 1"
        raise TemplateExecError(
            f"wrong number of args for {node.function}: want {want} got {len(args)}"
        )
    return function(*args)


def tree_text(node: Node) -> str:
    """A node as Go's text/template/parse prints it: no spaces inside ``{{ }}``, literals as
    written, parenthesised pipelines in parentheses, commands joined by `` | ``."""
    if isinstance(node, Field | BadField):
        return "." + ".".join(node.path)
    if isinstance(node, Literal):
        return node.text
    if isinstance(node, Paren):
        return "(" + tree_text(node.inner) + ")"
    if isinstance(node, Pipeline):
        return " | ".join(tree_text(c) for c in node.commands)
    return " ".join([node.function, *(tree_text(a) for a in node.args)])


def to_text(value: Any) -> str:
    """Go's fmt %v of the value."""
    if value is None:
        return NO_VALUE
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{to_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    return str(value)
