"""ListDecoder: a list document decoded item by item, whatever the chunking and layout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clusterdns.cluster.jsonlist import BadList, ListDecoder, decode_items, items_of


def _slice(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"s{i}-x", "namespace": "ns", "labels": {"a": "}, {"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": True}}] * 3,
        "ports": [{"name": "http", "port": 80, "metadata": {"odd": 1}}],
    }


def _list(n: int, indent: int | None = None) -> bytes:
    doc = {
        "kind": "EndpointSliceList",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"resourceVersion": "42"},
        "items": [_slice(i) for i in range(n)],
    }
    return json.dumps(doc, indent=indent, separators=None if indent else (",", ":")).encode()


def _decode(data: bytes, chunk: int) -> tuple[list[Any], ListDecoder, int]:
    """Decode in ``chunk``-byte pieces; the items, the decoder, items taken before finish."""
    decoder = ListDecoder()
    out: list[Any] = []
    for i in range(0, len(data), chunk):
        decoder.feed(data[i : i + chunk])
        out.extend(decoder.items())
    early = len(out)
    out.extend(items_of(decoder.finish()))
    return out, decoder, early


@pytest.mark.parametrize("chunk", [1, 3, 64, 4096, 1 << 30])
@pytest.mark.parametrize("indent", [None, 2])
def test_every_item_comes_out_whatever_the_chunks(chunk: int, indent: int | None) -> None:
    data = _list(40, indent)
    items, decoder, early = _decode(data, chunk)
    assert items == json.loads(data)["items"]
    assert decoder.metadata == {"resourceVersion": "42"}
    assert early == 39  # all but the last came out before the end of the document


def test_a_nested_object_that_opens_like_an_item_is_not_an_item() -> None:
    """Ports above carry a nested "metadata" key: candidates inside an item fail to decode."""
    first = {"metadata": {"name": "a"}, "spec": {"x": [{"metadata": {"n": 1}}, {"metadata": 2}]}}
    second = {"metadata": {"name": "b"}, "note": '}, {"metadata": not an item'}
    data = json.dumps({"kind": "List", "items": [first, second], "metadata": {}}).encode()
    assert list(decode_items(data)) == [first, second]


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (b'{"kind":"ServiceList","metadata":{},"items":[]}', []),
        (b'{"kind":"ServiceList","items":[ ] ,"metadata":{"resourceVersion":"1"}}', []),
        (b'{"items":[{"a":1}],"metadata":{"continue":"t"}}', [{"a": 1}]),
    ],
)
def test_short_lists(data: bytes, items: list[Any]) -> None:
    assert list(decode_items(data)) == items


def test_an_items_key_below_the_top_is_not_the_list() -> None:
    """A single Pod has ``items`` in a configMap volume: the document is one object."""
    pod = {"kind": "Pod", "spec": {"volumes": [{"configMap": {"items": [{"key": "k"}]}}]}}
    decoder = ListDecoder()
    decoder.feed(json.dumps(pod).encode())
    assert list(decoder.items()) == []
    assert decoder.finish() == pod
    assert decoder.envelope is None


@pytest.mark.parametrize(
    "data",
    [b'{"items":[{"a":1},{"a":', b"not json", b'{"items": 3}', b"[1, 2]"],
)
def test_what_is_not_a_list_is_refused(data: bytes) -> None:
    with pytest.raises(BadList):
        list(decode_items(data))


def test_consumed_bytes_are_let_go() -> None:
    """The decoder keeps the bytes not decoded yet, not the document."""
    data = _list(3000)
    decoder = ListDecoder()
    biggest = 0
    for i in range(0, len(data), 65536):
        decoder.feed(data[i : i + 65536])
        for _ in decoder.items():
            pass
        biggest = max(biggest, len(decoder._buf))
    assert biggest < len(data) // 2


def test_items_of_kinds_that_open_with_other_keys_come_out_one_by_one() -> None:
    """kubectl sorts keys: a List of Services then EndpointSlices has items opening with
    "apiVersion", then "addressType".  The second kind must not wait for ``finish`` (which
    would decode megabytes in one call): its opening is learnt once the first is stuck."""
    services = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"}} for i in range(50)
    ]
    slices = [dict(sorted(_slice(i).items())) for i in range(8000)]  # "addressType" first
    doc = {"apiVersion": "v1", "items": services + slices, "kind": "List", "metadata": {}}
    data = json.dumps(doc, sort_keys=True).encode()
    assert len(data) > 2 << 20  # more than the decoder waits on a known opening
    items, decoder, early = _decode(data, 65536)
    assert items == services + slices
    assert early == len(items) - 1
    assert len(decoder._buf) == 0
