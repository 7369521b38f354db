"""One resource record from its RFC 1035 text (section 5.1), as CoreDNS's ``dns.NewRR`` reads it.

``OWNER [TTL] [CLASS] TYPE RDATA`` with TTL and CLASS in either order; relative names are
taken from the root (``ns.example.com`` is ``ns.example.com.``); a missing TTL is 3600 and a
missing class IN, as in miekg/dns; parentheses may span what the Corefile gave on one line.
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.ttl

DEFAULT_TTL = 3600  # miekg/dns defaultTtl


class RecordError(ValueError):
    """The text is not one valid resource record."""


def parse_rr(text: str) -> dns.rrset.RRset:
    try:
        tokens = dns.tokenizer.Tokenizer(text)
        owner = dns.name.from_text(tokens.get_string(), dns.name.root)
        ttl: int | None = None
        rdclass: dns.rdataclass.RdataClass | None = None
        while True:
            word = tokens.get_string()
            if ttl is None and word[:1].isdigit():
                ttl = dns.ttl.from_text(word)
                continue
            if rdclass is None and _is_class(word):
                rdclass = dns.rdataclass.from_text(word)
                continue
            rdtype = dns.rdatatype.from_text(word)
            break
        rdata = dns.rdata.from_text(
            rdclass or dns.rdataclass.IN, rdtype, tokens, dns.name.root, relativize=False
        )
        tokens.get_eol()
    except dns.exception.DNSException as exc:
        raise RecordError(str(exc) or type(exc).__name__) from exc
    except (ValueError, UnicodeError) as exc:
        raise RecordError(str(exc)) from exc
    rrset = dns.rrset.RRset(owner, rdata.rdclass, rdata.rdtype)
    rrset.add(rdata, DEFAULT_TTL if ttl is None else ttl)
    return rrset


def _is_class(word: str) -> bool:
    try:
        dns.rdataclass.from_text(word)
    except dns.rdataclass.UnknownRdataclass:
        return False
    try:
        dns.rdatatype.from_text(word)
    except dns.rdatatype.UnknownRdatatype:
        return True
    return False
