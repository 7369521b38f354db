"""``template CLASS TYPE [ZONE...] { match; answer; additional; authority; rcode; ederror; fallthrough }``.

The directive -> a frozen ``TemplateConfig``, CoreDNS's *template* parse step: every regex and
every Go template is compiled here, so a bad one stops the server at start
(``plugin/template: Corefile:3: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import dns.rcode
import dns.rdataclass
import dns.rdatatype

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.template.gotemplate import LEAF, MAP, Template, TemplateSyntaxError

MAX_REGEX_LENGTH = 10000  # CoreDNS maxRegexpLen
ANY = 255  # class ANY and type ANY share the number

# The fields CoreDNS's templateData offers (plugin/template/template.go), as the evaluator checks them.
FIELDS = {
    "Zone": LEAF,
    "Name": LEAF,
    "Regex": LEAF,
    "Match": LEAF,
    "Group": MAP,
    "Class": LEAF,
    "Type": LEAF,
    "Remote": LEAF,
    "Question": {"Name": LEAF, "Qtype": LEAF, "Qclass": LEAF},
    "Message": {
        "Id": LEAF,
        "Opcode": LEAF,
        "RecursionDesired": LEAF,
        "CheckingDisabled": LEAF,
        "Question": LEAF,
    },
}
# Fields whose value differs between two clients sending the same bytes (the ID is not
# part of the server's memo key): answers using them are never memoized.
PER_CLIENT_FIELDS = frozenset({"Remote", "Message"})


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    qclass: int
    qtype: int
    zones: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]
    answer: tuple[Template, ...] = ()
    additional: tuple[Template, ...] = ()
    authority: tuple[Template, ...] = ()
    rcode: int = 0
    ederror: tuple[int, str] | None = None
    fallthrough: tuple[str, ...] | None = None  # None: off; (): every zone

    @property
    def per_client(self) -> bool:
        templates = self.answer + self.additional + self.authority
        return any(t.fields & PER_CLIENT_FIELDS for t in templates)


def absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def go_regex(pattern: str, option: Directive) -> re.Pattern[str]:
    """Compile a Go (RE2) regex with Python's re: ``(?<name>`` and ``\\z`` are translated."""
    if len(pattern) > MAX_REGEX_LENGTH:
        fail(option, f"regex pattern too long: {len(pattern)} > {MAX_REGEX_LENGTH}", "template")
    translated = pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    translated = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", translated)
    try:
        return re.compile(translated)
    except re.error as exc:
        fail(option, f"could not parse regex: {pattern}, {exc}", "template")


def compile_template(text: str, option: Directive) -> Template:
    try:
        return Template(text, FIELDS)
    except TemplateSyntaxError as exc:
        fail(option, f"could not compile template: {text!r}: {exc}", "template")


def parse(directive: Directive, server_zones: tuple[str, ...]) -> TemplateConfig:
    if len(directive.args) < 2:
        fail(directive, "template needs a CLASS and a TYPE: template CLASS TYPE [ZONE...]")
    qclass = _code(directive, directive.args[0], dns.rdataclass.from_text, "invalid query class")
    qtype = _code(directive, directive.args[1], dns.rdatatype.from_text, "invalid RR type")
    zones = tuple(absolute(z) for z in directive.args[2:]) or server_zones
    regexes: list[re.Pattern[str]] = []
    sections: dict[str, list[Template]] = {"answer": [], "additional": [], "authority": []}
    rcode, ederror, fallthrough = 0, None, None
    for option in directive.block:
        name, args = option.name, option.args
        if name == "match":
            if not args:
                fail(option, "match needs at least one regex", "template")
            regexes.extend(go_regex(pattern, option) for pattern in args)
        elif name in sections:
            if not args:
                fail(option, f"{name} needs at least one resource record template", "template")
            sections[name].extend(compile_template(text, option) for text in args)
        elif name == "rcode":
            if len(args) != 1:
                fail(option, "rcode needs one response code (NXDOMAIN, SERVFAIL...)", "template")
            rcode = _rcode(option, args[0])
        elif name == "ederror":
            if len(args) not in (1, 2) or not args[0].isdigit() or int(args[0]) > 0xFFFF:
                fail(option, "ederror needs a code 0-65535 and an optional reason", "template")
            ederror = (int(args[0]), args[1] if len(args) == 2 else "")
        elif name == "fallthrough":
            fallthrough = tuple(absolute(z) for z in args)
        elif name == "upstream":
            pass  # CoreDNS accepts and ignores it ("remove soon")
        elif name in ("var", "expr"):
            fail(option, f"'{name}' (the expr language) is not supported by clusterdns", "template")
        else:
            fail(option, f"unknown property '{name}'", "template")
    return TemplateConfig(
        qclass=qclass,
        qtype=qtype,
        zones=zones,
        regexes=tuple(regexes) or (re.compile(".*"),),
        answer=tuple(sections["answer"]),
        additional=tuple(sections["additional"]),
        authority=tuple(sections["authority"]),
        rcode=rcode,
        ederror=ederror,
        fallthrough=fallthrough,
    )


def _code(directive: Directive, text: str, convert: Callable[[str], int], what: str) -> int:
    """A class or type mnemonic as CoreDNS looks it up (dns.StringToClass/StringToType): in
    upper case, and no generic ``CLASS3``/``TYPE65`` spelling."""
    try:
        if text != text.upper() or re.fullmatch(r"(CLASS|TYPE)[0-9]+", text):
            raise ValueError(text)
        value = int(convert(text))
    except Exception:
        fail(directive, f"{what} {text}", "template")
    return value


def _rcode(option: Directive, text: str) -> int:
    """An rcode name as CoreDNS looks it up (dns.StringToRcode): upper case, not a number."""
    try:
        if text != text.upper() or text.isdigit():
            raise ValueError(text)
        value = int(dns.rcode.from_text(text))
    except Exception:
        fail(option, f"unknown rcode {text}", "template")
    if value > 15:
        fail(
            option, f"rcode {text} is an extended rcode; only header rcodes are served", "template"
        )
    return value
