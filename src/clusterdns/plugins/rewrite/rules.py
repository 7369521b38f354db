"""Rewrite rules as CoreDNS's rewrite plugin reads them (plugin/rewrite/*.go), without I/O.

A rule looks at the question (``State``): when it matches it changes the state (the name, type,
class or EDNS0 options the rest of the chain will see) and returns the response rules to apply
to the reply; when it does not match it returns None.  Response rules change a dnspython
message: owner names, names in rdata, TTLs, the rcode, EDNS0 options.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

MAX_REGEX_LENGTH = 10000  # CoreDNS maxRegexpLen
STOP, CONTINUE = "stop", "continue"
MATCH_TYPES = ("exact", "prefix", "suffix", "substring", "regex")
EDNS0_NSID, EDNS0_SUBNET = 3, 8
# The rdata field holding a name, for `answer value` (CoreDNS getRecordValueForRewrite).
VALUE_FIELDS = {
    dns.rdatatype.SRV: "target",
    dns.rdatatype.MX: "exchange",
    dns.rdatatype.CNAME: "target",
    dns.rdatatype.NS: "target",
    dns.rdatatype.DNAME: "target",
    dns.rdatatype.NAPTR: "replacement",
    dns.rdatatype.SOA: "mname",
    dns.rdatatype.PTR: "target",
}


class RuleError(ValueError):
    """The rule's arguments are wrong; the message says how (CoreDNS's wording where it has one)."""


@dataclass
class State:
    """The question as the rules see and change it, plus who asked (for EDNS0 variables)."""

    name: str  # lower-case, absolute
    qtype: int
    qclass: int
    qname_as_sent: str = ""
    options: list[dns.edns.Option] | None = None  # None: not read from the query yet
    client: tuple[str, int] = ("", 0)
    transport: str = "udp"
    server: tuple[str, int] = ("", 0)
    #: the reply depends on who asked, not only on the query bytes: never memoize it
    per_client: bool = False
    edns_touched: bool = False
    load_options: Callable[[], list[dns.edns.Option]] = field(default=lambda: [])

    def edns_options(self) -> list[dns.edns.Option]:
        if self.options is None:
            self.options = list(self.load_options())
        self.edns_touched = True
        return self.options


# -- strings ------------------------------------------------------------------------------


class StringRewriter:
    def rewrite(self, text: str) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class RegexRewriter(StringRewriter):
    pattern: re.Pattern[str]
    replacement: str

    def rewrite(self, text: str) -> str:
        match = self.pattern.search(text)
        if match is None:
            return text
        return substitute(self.replacement, match)


@dataclass(frozen=True)
class RemapRewriter(StringRewriter):
    """``orig`` and names under it become ``replacement`` and names under that."""

    orig: str
    replacement: str

    def rewrite(self, text: str) -> str:
        lowered = text.lower()
        if lowered == self.orig:
            return self.replacement
        cut = len(text) - len(self.orig)
        if cut > 0 and text[cut - 1] == "." and lowered[cut:] == self.orig:
            return text[:cut] + self.replacement
        return text


@dataclass(frozen=True)
class SuffixRewriter(StringRewriter):
    suffix: str
    replacement: str

    def rewrite(self, text: str) -> str:
        if text.lower().endswith(self.suffix):
            return text[: len(text) - len(self.suffix)] + self.replacement
        return text


def substitute(template: str, match: re.Match[str]) -> str:
    """``{0}``, ``{1}``... replaced by the match and its groups (CoreDNS's regex rewrite)."""
    out = template
    for index, group in enumerate([match.group(0), *match.groups()]):
        out = out.replace("{" + str(index) + "}", group or "")
    return out


# -- response rules -----------------------------------------------------------------------


class ResponseRule:
    def apply(self, message: dns.message.Message) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class NameResponse(ResponseRule):
    rewriter: StringRewriter

    def apply(self, message: dns.message.Message) -> None:
        for section in (message.answer, message.authority, message.additional):
            for index, rrset in enumerate(section):
                new = self.rewriter.rewrite(rrset.name.to_text())
                if new != rrset.name.to_text():
                    renamed = dns.rrset.from_rdata_list(
                        dns.name.from_text(new), rrset.ttl, list(rrset)
                    )
                    section[index] = renamed


@dataclass(frozen=True)
class ValueResponse(ResponseRule):
    rewriter: StringRewriter

    def apply(self, message: dns.message.Message) -> None:
        for section in (message.answer, message.authority, message.additional):
            for index, rrset in enumerate(section):
                attr = VALUE_FIELDS.get(rrset.rdtype)
                if attr is None:
                    continue
                changed = []
                for rdata in rrset:
                    value = getattr(rdata, attr).to_text()
                    new = self.rewriter.rewrite(value)
                    if new != value:
                        rdata = rdata.replace(**{attr: dns.name.from_text(new)})
                    changed.append(rdata)
                section[index] = dns.rrset.from_rdata_list(rrset.name, rrset.ttl, changed)


@dataclass(frozen=True)
class TTLResponse(ResponseRule):
    low: int
    high: int

    def apply(self, message: dns.message.Message) -> None:
        for section in (message.answer, message.authority, message.additional):
            for rrset in section:
                rrset.ttl = min(max(rrset.ttl, self.low), self.high)


@dataclass(frozen=True)
class RcodeResponse(ResponseRule):
    old: int
    new: int

    def apply(self, message: dns.message.Message) -> None:
        if message.rcode() == self.old:
            message.set_rcode(dns.rcode.Rcode.make(self.new))


@dataclass(frozen=True)
class EdnsRevert(ResponseRule):
    """Take back an EDNS0 option the request got: remove it, or put the old one back."""

    code: int
    old: dns.edns.Option | None

    def apply(self, message: dns.message.Message) -> None:
        if message.opt is None:
            return
        options = list(message.options)
        for index, option in enumerate(options):
            if option.otype == self.code:
                if self.old is None:
                    del options[index]
                else:
                    options[index] = self.old
                message.use_edns(message.edns, message.ednsflags, message.payload, options=options)
                return


@dataclass(frozen=True)
class CnameTarget(ResponseRule):
    """A reply's CNAME target rewritten and the new target looked up (CoreDNS cnameTargetRule).

    The lookup needs the rest of the chain, so the handler runs it (``targets`` says what to
    rewrite); ``apply`` alone changes nothing.
    """

    kind: str
    source: str
    target: str
    pattern: re.Pattern[str] | None = None

    def apply(self, message: dns.message.Message) -> None:
        pass

    def targets(self, current: str) -> tuple[str, str]:
        """(FROM, TO) for a CNAME target, ("", "") when the rule does not apply to it."""
        kind, source, target = self.kind, self.source, self.target
        if kind == "exact":
            return source, target
        if kind == "prefix" and current.startswith(source):
            return current, target + current[len(source) :]
        if kind == "suffix" and current.endswith(source):
            return current, current[: len(current) - len(source)] + target
        if kind == "substring" and source in current:
            return current, current.replace(source, target)
        if kind == "regex":
            assert self.pattern is not None
            match = self.pattern.search(current)
            if match is not None:
                return current, substitute(target, match)
        return "", ""


# -- request rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    """exact / prefix / suffix / substring / regex against the lower-case name."""

    kind: str
    value: str
    pattern: re.Pattern[str] | None = None

    def match(self, name: str) -> re.Match[str] | bool:
        if self.kind == "exact":
            return name == self.value
        if self.kind == "prefix":
            return name.startswith(self.value)
        if self.kind == "suffix":
            return name.endswith(self.value)
        if self.kind == "substring":
            return self.value in name
        assert self.pattern is not None
        return self.pattern.search(name) or False


class Rule:
    mode: str  # STOP or CONTINUE

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        """Change ``state`` and return the response rules, or None when the rule does not apply."""
        raise NotImplementedError


@dataclass(frozen=True)
class NameRule(Rule):
    mode: str
    matcher: Matcher
    replacement: str
    auto: bool
    static: tuple[ResponseRule, ...]

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        found = self.matcher.match(state.name)
        if not found:
            return None
        original = state.name
        kind = self.matcher.kind
        if kind == "exact":
            new = self.replacement
        elif kind == "prefix":
            new = self.replacement + original[len(self.matcher.value) :]
        elif kind == "suffix":
            new = original[: len(original) - len(self.matcher.value)] + self.replacement
        elif kind == "substring":
            new = original.replace(self.matcher.value, self.replacement)
        else:
            assert isinstance(found, re.Match)
            new = substitute(self.replacement, found)
        state.name = new
        if not self.auto:
            return list(self.static)
        remap = RemapRewriter(new.lower(), original)
        return [NameResponse(remap), ValueResponse(remap), *self.static]


@dataclass(frozen=True)
class TypeRule(Rule):
    mode: str
    old: int
    new: int
    field: str  # "qtype" or "qclass"

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        if getattr(state, self.field) != self.old:
            return None
        setattr(state, self.field, self.new)
        return []


@dataclass(frozen=True)
class ResponseOnlyRule(Rule):
    """ttl and rcode: match the name, change only the reply."""

    mode: str
    matcher: Matcher
    response: ResponseRule

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        return [self.response] if self.matcher.match(state.name) else None


@dataclass(frozen=True)
class CnameRule(Rule):
    """cname: applies to every query; its work is on the reply (CoreDNS always reports it done)."""

    mode: str
    response: CnameTarget

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        if not self.response.source or not self.response.target:
            return None
        return [self.response]


@dataclass(frozen=True)
class EdnsRule(Rule):
    mode: str
    action: str  # set, append, replace, unset
    code: int
    data: bytes | None  # None with a variable or for subnet
    variable: str = ""
    revert: bool = False
    v4_bits: int = 0
    v6_bits: int = 0

    def rewrite(self, state: State) -> list[ResponseRule] | None:
        option = self._option(state)
        if option is None and self.action != "unset":
            return None
        options = state.edns_options()
        if self.action == "unset":
            options[:] = [o for o in options if o.otype != self.code]
            return []
        assert option is not None
        for index, existing in enumerate(options):
            if existing.otype == self.code:
                if self.action in ("set", "replace"):
                    options[index] = option
                    return [EdnsRevert(self.code, existing)] if self.revert else []
                return None
        if self.action in ("set", "append"):
            options.append(option)
            return [EdnsRevert(self.code, None)] if self.revert else []
        return None

    def _option(self, state: State) -> dns.edns.Option | None:
        if self.code == EDNS0_SUBNET:
            state.per_client = True
            address = ipaddress.ip_address(state.client[0].split("%", 1)[0])
            bits = self.v4_bits if address.version == 4 else self.v6_bits
            return dns.edns.ECSOption(str(address), bits, 0)
        data = self.data if not self.variable else self._variable(state)
        if data is None:
            return None
        return dns.edns.GenericOption(dns.edns.OptionType.make(self.code), data)

    def _variable(self, state: State) -> bytes | None:
        variable = self.variable
        if variable == "{qname}":
            return state.qname_as_sent.encode()
        if variable == "{qtype}":
            return state.qtype.to_bytes(2, "big")
        if variable == "{protocol}":
            return state.transport.encode()
        state.per_client = True
        host, port = state.client if variable.startswith("{client") else state.server
        if variable.endswith("_port}"):
            return port.to_bytes(2, "big") if port else None
        try:
            return ipaddress.ip_address(host.split("%", 1)[0]).packed
        except ValueError:
            return None  # a wildcard listener does not know its own address: the rule is skipped


# -- parsing ------------------------------------------------------------------------------


def parse_rule(args: Sequence[str]) -> Rule:
    """One rule from the words of a ``rewrite`` directive (block lines already flattened)."""
    if not args:
        raise RuleError("no rule type specified for rewrite")
    words = list(args)
    mode = STOP
    if words[0].lower() in (STOP, CONTINUE):
        mode = words.pop(0).lower()
        if not words:
            raise RuleError(f"{mode} rule must begin with a rule type")
    kind = words[0].lower()
    rest = words[1:]
    if kind == "answer":
        raise RuleError("response rewrites must begin with a name rule")
    if kind == "name":
        return _name_rule(mode, rest)
    if kind in ("type", "class"):
        if len(rest) != 2:
            raise RuleError(f"{kind} rules must have exactly two arguments")
        convert: Callable[[str], int] = _qtype if kind == "type" else _qclass
        return TypeRule(mode, convert(rest[0]), convert(rest[1]), "q" + kind)
    if kind == "ttl":
        return _ttl_rule(mode, rest)
    if kind == "rcode":
        return _rcode_rule(mode, rest)
    if kind == "edns0":
        return _edns_rule(mode, rest)
    if kind == "cname":
        return _cname_rule(mode, rest)
    raise RuleError(f"invalid rule type {words[0]!r}")


def normalize(name: str) -> str:
    """CoreDNS's plugin.Name(x).Normalize(): lower-case and fully qualified."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def compile_regex(pattern: str, replacement: str = "") -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise RuleError(f"regex pattern too long: {len(pattern)} > {MAX_REGEX_LENGTH}")
    try:
        compiled = re.compile(_go_regex(pattern))
    except re.error as exc:
        raise RuleError(f"invalid regex matching pattern: {pattern} ({exc})") from None
    used = sum(1 for i in range(101) if "{" + str(i) + "}" in replacement)
    if used > compiled.groups:
        raise RuleError(
            f"the rewrite regex pattern ({replacement}) uses more subexpressions than its "
            f"corresponding matching regex pattern ({pattern})"
        )
    return compiled


def _go_regex(pattern: str) -> str:
    """Go's ``(?<name>...)`` in Python's spelling."""
    return pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")


def _cname_rule(mode: str, args: list[str]) -> CnameRule:
    """``cname [TYPE] FROM TO``: FROM and TO lower-cased, made absolute only for exact."""
    if len(args) == 3:
        kind, source, target = args[0].lower(), args[1].lower(), args[2].lower()
        if kind not in MATCH_TYPES:
            raise RuleError(f"unknown cname rewrite type: {kind}")
    elif len(args) == 2:
        kind, source, target = "exact", args[0].lower(), args[1].lower()
    else:
        raise RuleError(f"too few ({len(args)}) arguments for a cname rule")
    pattern = None
    if kind == "exact":
        source, target = normalize(source), normalize(target)
    elif kind == "regex":
        if len(source) > MAX_REGEX_LENGTH:
            raise RuleError(
                f"regex pattern too long in a cname rule: {len(source)} > {MAX_REGEX_LENGTH}"
            )
        try:
            pattern = re.compile(_go_regex(source))
        except re.error as exc:
            raise RuleError(f"invalid cname rewrite regex pattern: {exc}") from None
    return CnameRule(mode, CnameTarget(kind, source, target, pattern))


def _matcher(kind: str, value: str) -> Matcher:
    if kind not in MATCH_TYPES:
        raise RuleError(
            f"name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {kind}"
        )
    if kind == "regex":
        return Matcher(kind, value, compile_regex(value))
    return Matcher(kind, normalize(value))


def _name_rule(mode: str, args: list[str]) -> NameRule:
    if len(args) < 2:
        raise RuleError("too few arguments for a name rule")
    if len(args) == 2:
        kind, source, target = "exact", args[0], args[1]
    else:
        kind, source, target = args[0].lower(), args[1], args[2]
    if kind not in MATCH_TYPES:
        raise RuleError(
            f"name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {kind}"
        )
    if kind == "regex":
        matcher = Matcher(kind, source, compile_regex(source, target))
    else:
        matcher = Matcher(kind, normalize(source))
    replacement = normalize(target)
    if kind == "exact":
        compile_regex(replacement, matcher.value)  # CoreDNS checks TO as a pattern for FROM
    auto, static = _answer_rules(kind, args[3:]) if len(args) > 3 else (False, [])
    if kind == "exact":
        auto = True  # CoreDNS: answers of exact rewrites are always rewritten back
    elif kind == "suffix" and auto:
        back = SuffixRewriter(replacement, matcher.value)
        static = [NameResponse(back), ValueResponse(back), *static]
        auto = False
    return NameRule(mode, matcher, replacement, auto, tuple(static))


def _answer_rules(kind: str, args: list[str]) -> tuple[bool, list[ResponseRule]]:
    if len(args) < 2:
        raise RuleError(f"invalid arguments for {kind} rule")
    auto, names, index, last = False, 0, 0, ""
    rules: list[ResponseRule] = []
    while index < len(args):
        if not last and args[index] != "answer":
            raise RuleError(
                f"exceeded the number of arguments for a non-answer rule argument for {kind} rule"
            )
        if args[index] == "answer":
            index += 1
        if index >= len(args):
            raise RuleError(f"type missing for answer rule for {kind} rule")
        last = args[index]
        index += 1
        if last == "auto":
            auto = True
            continue
        if last not in ("name", "value"):
            raise RuleError(f"invalid type {last!r} for answer rule for {kind} rule")
        if len(args) - index < 2:
            raise RuleError(f"{last} answer rule for {kind} rule: 2 arguments required")
        source, target = args[index], args[index + 1]
        rewriter = RegexRewriter(compile_regex(source, target), normalize(target))
        if last == "name":
            rules.append(NameResponse(rewriter))
            names += 1
        else:
            rules.append(ValueResponse(rewriter))
        index += 2
    if auto and names:
        raise RuleError("auto name answer rule cannot be combined with explicit name answer rules")
    return auto, rules


def _ttl_rule(mode: str, args: list[str]) -> ResponseOnlyRule:
    if len(args) < 2:
        raise RuleError(f"too few ({len(args)}) arguments for a ttl rule")
    if len(args) > 3:
        raise RuleError("too many arguments for a ttl rule")
    kind, value = ("exact", args[0]) if len(args) == 2 else (args[0].lower(), args[1])
    low, high = _ttl_range(args[-1])
    return ResponseOnlyRule(mode, _response_matcher(kind, value, "ttl"), TTLResponse(low, high))


def _ttl_range(text: str) -> tuple[int, int]:
    limit = 2**32 - 1
    parts = text.split("-")
    try:
        if len(parts) == 1 and parts[0].isdigit() and int(parts[0]) <= limit:
            return int(parts[0]), int(parts[0])
        if len(parts) == 2 and (parts[0] or parts[1]):
            low = int(parts[0]) if parts[0] else 0
            high = int(parts[1]) if parts[1] else 2147483647
            if 0 <= low <= high <= limit and all(p.isdigit() or not p for p in parts):
                return low, high
    except ValueError:
        pass
    raise RuleError(f"invalid TTL '{text}' for a ttl rule")


def _rcode_rule(mode: str, args: list[str]) -> ResponseOnlyRule:
    if len(args) < 3:
        raise RuleError(f"too few ({len(args)}) arguments for a rcode rule")
    if len(args) > 4:
        raise RuleError("too many arguments for a rcode rule")
    kind, value = ("exact", args[0]) if len(args) == 3 else (args[0].lower(), args[1])
    old = _rcode(args[-2], "matching")
    new = _rcode(args[-1], "replacement")
    return ResponseOnlyRule(mode, _response_matcher(kind, value, "rcode"), RcodeResponse(old, new))


def _rcode(text: str, what: str) -> int:
    """A number 0-23 or an rcode name (CoreDNS isValidRCode): "24" is not an rcode."""
    if text.isdigit():
        if int(text) <= 23:
            return int(text)
    else:
        try:
            return int(dns.rcode.from_text(text.upper()))
        except Exception:
            pass
    raise RuleError(f"invalid {what} RCODE '{text}' for a rcode rule")


def _response_matcher(kind: str, value: str, rule: str) -> Matcher:
    if kind not in MATCH_TYPES:
        raise RuleError(
            f"{rule} rule supports only exact, prefix, suffix, substring, and regex name matching"
        )
    return _matcher(kind, value)


VARIABLES = (
    "{qname}",
    "{qtype}",
    "{client_ip}",
    "{client_port}",
    "{protocol}",
    "{server_ip}",
    "{server_port}",
)


def _edns_rule(mode: str, args: list[str]) -> EdnsRule:
    if len(args) < 2:
        raise RuleError("too few arguments for an EDNS0 rule")
    kind, action = args[0].lower(), args[1].lower()
    if action not in ("set", "append", "replace", "unset"):
        raise RuleError(f"invalid action: {action!r}")
    revert = action != "unset" and args[-1] == "revert"
    if revert:
        args = args[:-1]
    if kind == "local":
        if action == "unset":
            if len(args) != 3:
                raise RuleError("local unset action requires exactly two arguments")
            return EdnsRule(mode, action, _code(args[2]), None)
        if len(args) != 4:
            raise RuleError("EDNS0 local rules require three or four args")
        code, data = _code(args[2]), args[3]
        if data.startswith("{") and data.endswith("}"):
            if data not in VARIABLES:
                raise RuleError(f"unsupported variable name {data!r}")
            return EdnsRule(mode, action, code, None, data, revert)
        if data.startswith("0x"):
            try:
                raw = bytes.fromhex(data[2:])
            except ValueError:
                raise RuleError(f"invalid hex data {data!r}") from None
        else:
            raw = data.encode()
        return EdnsRule(mode, action, code, raw, "", revert)
    if kind == "nsid":
        if len(args) != 2:
            raise RuleError("EDNS0 NSID rules can accept no more than one arg")
        return EdnsRule(mode, action, EDNS0_NSID, b"", "", revert)
    if kind == "subnet":
        if action == "unset":
            if len(args) != 2:
                raise RuleError("subnet unset action requires exactly one argument")
            return EdnsRule(mode, action, EDNS0_SUBNET, None)
        if len(args) != 4:
            raise RuleError("EDNS0 subnet rules require three or four args")
        v4, v6 = _bits(args[2], 32, "IPv4"), _bits(args[3], 128, "IPv6")
        return EdnsRule(mode, action, EDNS0_SUBNET, None, "", revert, v4, v6)
    raise RuleError(f"invalid rule type {kind!r}")


def _code(text: str) -> int:
    try:
        code = int(text, 0)
    except ValueError:
        raise RuleError(f"invalid EDNS0 option code {text!r}") from None
    if not 0 <= code <= 0xFFFF:
        raise RuleError(f"invalid EDNS0 option code {text!r}")
    return code


def _bits(text: str, limit: int, family: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise RuleError(f"invalid {family} bit mask length {text}") from None
    if not 0 <= value <= limit:
        raise RuleError(f"invalid {family} bit mask length {value}")
    return value


def _qtype(text: str) -> int:
    try:
        return int(dns.rdatatype.from_text(text.upper()))
    except Exception:
        raise RuleError(f"invalid type {text.upper()!r}") from None


def _qclass(text: str) -> int:
    try:
        return int(dns.rdataclass.from_text(text.upper()))
    except Exception:
        raise RuleError(f"invalid class {text.upper()!r}") from None
