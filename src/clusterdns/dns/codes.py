"""Names of rcodes, types and classes as CoreDNS writes them (miekg/dns's tables).

One table for every user: the query log, the metrics labels, the errors plugin.
Each caller decides how an unnamed code reads, as CoreDNS's callers do: the log
writes the number (``{rcode}``), the metrics ``RCODE<n>`` (``rcode.ToString``).
"""

from __future__ import annotations

import dns.rdataclass
import dns.rdatatype

# miekg/dns RcodeToString: note NOTIMP (not NOTIMPL), and 16 reads BADSIG (BADVERS shares it).
RCODE_NAMES: dict[int, str] = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}  # fmt: skip

_type_text: dict[int, str] = {}
_class_text: dict[int, str] = {}


def type_text(qtype: int) -> str:
    """``A``, ``SRV``, ``TYPE65280`` (miekg/dns Type.String); cached after the first use."""
    text = _type_text.get(qtype)
    if text is None:
        text = _type_text[qtype] = dns.rdatatype.to_text(qtype)  # type: ignore[arg-type]
    return text


def class_text(qclass: int) -> str:
    """``IN``, ``CH``, ``CLASS42`` (miekg/dns Class.String)."""
    text = _class_text.get(qclass)
    if text is None:
        text = _class_text[qclass] = dns.rdataclass.to_text(qclass)  # type: ignore[arg-type]
    return text


def rcode_label(rcode: int) -> str:
    """CoreDNS's ``rcode.ToString``, the metrics label: the name, or ``RCODE<n>``."""
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"
