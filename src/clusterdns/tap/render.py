"""One line per dnstap message: the quiet text of ``dnstap -q`` / ``dnstap-ldns -q``, or JSON."""

from __future__ import annotations

import base64
import time
from typing import Any

from clusterdns.dnstap.message import Record

CLASS_IN = "IN"


def quiet(record: Record) -> str:
    """``2026-11-29 18:22:35.845690 CQ 127.0.0.5 UDP 47b "web.default.svc.cluster.local." IN A``.

    The layout of dnstap-ldns's quiet format (dnstap-ldns.c ``print_dnstap_message_quiet``):
    the query time of a query, the response time of a response, in UTC; the
    client's address for CLIENT_* messages, the upstream's for FORWARDER_*;
    the size of the DNS message (0b without ``full``) and its question, or
    ``? ? ?`` when there is none.
    """
    ns = record.time_ns
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // 1_000_000_000))
    micros = (ns % 1_000_000_000) // 1000
    size = len(record.message)
    if record.name is not None:
        question = f'"{record.name}" {CLASS_IN} {record.type_text}'
    else:
        question = "? ? ?"
    return (
        f"{stamp}.{micros:06d} {record.short} {record.client or 'MISSING_ADDRESS'} "
        f"{record.protocol} {size}b {question}"
    )


def to_json(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": record.type,
        "identity": record.identity,
        "version": record.version,
        "protocol": record.protocol,
        "query_address": record.query_address,
        "query_port": record.query_port,
        "response_address": record.response_address,
        "response_port": record.response_port,
        "query_time_ns": record.query_ns,
        "response_time_ns": record.response_ns,
    }
    if record.message:
        out.update(
            id=record.id,
            name=record.name,
            qtype=record.type_text,
            rcode=record.rcode_text if not record.is_query else None,
            message=base64.b64encode(record.message).decode(),
        )
    return out
