"""clusterdns tap: Frame Streams framing, files with bad frames, the diagnosis of seed 002."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from clusterdns.cli import main
from clusterdns.dnstap import framestream
from clusterdns.dnstap.framestream import Control, Data, Decoder, FrameError
from clusterdns.dnstap.message import (
    CLIENT_QUERY,
    CLIENT_RESPONSE,
    FORWARDER_QUERY,
    FORWARDER_RESPONSE,
    build,
    parse,
)
from clusterdns.tap.diagnose import Diagnosis
from clusterdns.tap.stream import FileWriter, read_file

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def test_control_frame_bytes_follow_fstrm() -> None:
    # escape, length 34, READY, CONTENT_TYPE field of 22 bytes
    frame = framestream.control(framestream.READY, [b"protobuf:dnstap.Dnstap"])
    assert frame[:4] == b"\x00\x00\x00\x00"
    assert frame[4:8] == (34).to_bytes(4, "big")
    assert frame[8:12] == b"\x00\x00\x00\x04"
    assert frame[12:20] == b"\x00\x00\x00\x01\x00\x00\x00\x16"
    assert frame[20:] == b"protobuf:dnstap.Dnstap"


def test_decoder_takes_bytes_in_any_split() -> None:
    stream = (
        framestream.control(framestream.START, [framestream.CONTENT_TYPE])
        + framestream.data(b"abc")
        + framestream.data(b"defg")
        + framestream.control(framestream.STOP)
    )
    for step in (1, 3, 7, len(stream)):
        decoder = Decoder()
        frames = [
            f for i in range(0, len(stream), step) for f in decoder.feed(stream[i : i + step])
        ]
        assert frames == [
            Control(0, framestream.START, (framestream.CONTENT_TYPE,)),
            Data(42, b"abc"),  # 4 escape + 4 length + 4 type + 8 field header + 22
            Data(49, b"defg"),
            Control(57, framestream.STOP, ()),
        ]
        assert decoder.pending == 0


def test_decoder_rejects_oversized_control_frames_with_offset() -> None:
    decoder = Decoder()
    bad = framestream.data(b"x") + b"\x00\x00\x00\x00" + (4096).to_bytes(4, "big")
    with pytest.raises(FrameError) as info:
        list(decoder.feed(bad))
    assert info.value.offset == 5
    assert "over the 512 limit" in str(info.value)


def query(name: str, qtype: str = "A", ident: int = 1) -> bytes:
    message = dns.message.make_query(name, qtype)
    message.id = ident
    return message.to_wire()


def response(name: str, rcode: int, qtype: str = "A", ident: int = 1) -> bytes:
    message = dns.message.make_response(dns.message.from_wire(query(name, qtype, ident)))
    message.set_rcode(rcode)
    return message.to_wire()


def client_pair(
    name: str,
    rcode: int,
    at: int,
    client: str = "10.1.0.5",
    took: int = 1_000_000,
    port: int = 4000,
) -> list[bytes]:
    ident = (at // 1000) % 65536
    return [
        build(CLIENT_QUERY, b"t", b"v", b"", "udp", (client, port), ("10.96.0.10", 53), at, None,
              query(name, ident=ident)),
        build(CLIENT_RESPONSE, b"t", b"v", b"", "udp", (client, port), ("10.96.0.10", 53), at,
              at + took, None, response(name, rcode, ident=ident)),
    ]  # fmt: skip


def write(path: Path, payloads: list[bytes]) -> None:
    with path.open("wb") as stream:
        writer = FileWriter(stream)
        writer.write(payloads)
        writer.close()


def run_tap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterdns", "tap", *args], capture_output=True, text=True
    )


def test_a_malformed_frame_is_reported_with_its_offset_and_the_rest_is_read(tmp_path: Path) -> None:
    good = client_pair("a.example.", 0, T0)
    payloads = [good[0], b"\xff\xff\xff garbage", good[1]]
    path = tmp_path / "bad.dnstap"
    write(path, payloads)
    # START is 42 bytes, the first data frame 4 + len(good[0])
    bad_offset = 42 + 4 + len(good[0])
    result = run_tap("-r", str(path))
    assert result.returncode == 1
    assert f"offset {bad_offset}: not a dnstap message" in result.stderr
    assert [line.split()[2] for line in result.stdout.splitlines()] == ["CQ", "CR"]


def test_a_file_cut_inside_a_frame_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.dnstap"
    write(path, client_pair("a.example.", 0, T0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    items = list(read_file(io.BytesIO(path.read_bytes())))
    assert isinstance(items[0], Data)
    assert isinstance(items[-1], FrameError)
    assert "file ends inside a frame" in str(items[-1])


def test_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.dnstap"
    write(path, client_pair("a.example.", dns.rcode.NXDOMAIN, T0))
    assert main(["tap", "-r", str(path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["type"], x["name"], x["rcode"]) for x in lines] == [
        ("CLIENT_QUERY", "a.example.", None),
        ("CLIENT_RESPONSE", "a.example.", "NXDOMAIN"),
    ]
    assert lines[0]["query_address"] == "10.1.0.5" and lines[0]["query_port"] == 4000


def forwarder(name: str, at: int, answered: bool, upstream: str = "10.0.0.2") -> list[bytes]:
    out = [build(FORWARDER_QUERY, b"t", b"v", b"", "udp", None, (upstream, 53), at, None,
                 query(name, ident=9))]  # fmt: skip
    if answered:
        out.append(build(FORWARDER_RESPONSE, b"t", b"v", b"", "udp", None, (upstream, 53), at,
                         at + 5_000_000, None, response(name, 0, ident=9)))  # fmt: skip
    return out


def test_diagnosis_finds_a_silent_upstream_and_unanswered_clients() -> None:
    """Seed 002: a client query and a forwarder query with no response: the upstream is silent."""
    diagnosis = Diagnosis()
    payloads = [
        *client_pair("ok.example.", 0, T0),
        *forwarder("ok.example.", T0, answered=True),
        # the silent case: CQ and FQ, nothing after
        build(CLIENT_QUERY, b"t", b"v", b"", "udp", ("10.1.0.9", 5000), ("10.96.0.10", 53),
              T0 + SECOND, None, query("slow.example.", ident=77)),
        *forwarder("slow.example.", T0 + SECOND, answered=False, upstream="10.0.0.3"),
        *client_pair("late.example.", 0, T0 + 5 * SECOND),
    ]  # fmt: skip
    for payload in payloads:
        diagnosis.add(parse(payload))
    report = diagnosis.report()
    assert report["upstream_silent"]["count"] == 1
    assert report["upstream_silent"]["by_upstream"] == {"10.0.0.3:53": 1}
    assert report["upstream_silent"]["names"] == ["slow.example."]
    assert report["client_unanswered"] == {
        "count": 1,
        "clients": {"10.1.0.9": 1},
        "names": ["slow.example."],
    }


def test_diagnosis_rcodes_latency_clients_and_search_walk() -> None:
    diagnosis = Diagnosis(("cluster.local",))
    at = T0
    payloads: list[bytes] = []
    # a pod in namespace shop looks up google.com with ndots:5 (A only, for brevity)
    for name, rcode in [
        ("google.com.shop.svc.cluster.local.", dns.rcode.NXDOMAIN),
        ("google.com.svc.cluster.local.", dns.rcode.NXDOMAIN),
        ("google.com.cluster.local.", dns.rcode.NXDOMAIN),
        ("google.com.", dns.rcode.NOERROR),
    ]:
        payloads += client_pair(name, rcode, at, client="10.1.0.5", port=at // SECOND % 60000)
        at += 10_000_000
    payloads += client_pair("slow.example.", 0, at, client="10.1.0.6", took=300_000_000)
    for payload in payloads:
        diagnosis.add(parse(payload))
    report = diagnosis.report()
    assert {"rcode": "NXDOMAIN", "client": "10.1.0.5", "count": 3} in report["rcodes_by_client"]
    assert report["slowest_names"][0]["name"] == "slow.example."
    assert report["slowest_names"][0]["p99_ms"] == 300.0
    assert report["top_clients"][0] == {"client": "10.1.0.5", "queries": 4}
    assert report["search_walks"]["wasted"] == {"shop": 3}
    assert report["search_walks"]["queries"] == {"shop": 4}
    assert report["search_walks"]["top_wasted"] == [
        {"namespace": "shop", "name": "google.com", "walks": 1}
    ]


def test_diagnose_from_a_file_as_text(tmp_path: Path) -> None:
    path = tmp_path / "d.dnstap"
    write(path, [*client_pair("a.example.", 2, T0), *forwarder("a.example.", T0, answered=False)])
    result = run_tap("-r", str(path), "--diagnose")
    assert result.returncode == 0, result.stderr
    assert "upstream silent (forwarder query, no response): 0" in result.stdout  # within 2 s
    assert "SERVFAIL  a.example.  1" in result.stdout


def test_tap_listens_on_tcp_and_prints_quiet_lines(tmp_path: Path) -> None:
    import socket

    from tests.support.serverutil import running

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tap = subprocess.Popen(
        [sys.executable, "-m", "clusterdns", "tap", "-l", f"127.0.0.1:{port}", "--count", "2",
         "--window", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        text = f".:0 {{\n bind 127.0.0.1\n dnstap tcp://127.0.0.1:{port} full\n whoami\n}}\n"
        with running(text) as srv:
            srv.udp("hello.example.", "TXT")
            out, err = tap.communicate(timeout=20)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.wait(5)
    lines = out.splitlines()
    assert [line.split()[2] for line in lines] == ["CQ", "CR"], err
    assert lines[0].endswith('UDP 31b "hello.example." IN TXT')
