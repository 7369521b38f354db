"""`clusterdns doctor` end to end against real servers on 127.0.0.1 (never anything else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clusterdns.cluster import sample_cluster_path

TIMEOUT = "0.3"


def _by_check(doc: dict[str, Any], check: str) -> list[dict[str, str]]:
    return [f for f in doc["findings"] if f["check"] == check]


def test_healthy_server_resolves_and_bench_is_clean(
    cluster_dns: Any, pod_resolv_conf: Path, doctor_json: Any, tmp_path: Path
) -> None:
    code, doc = doctor_json(
        "--resolv-conf", str(pod_resolv_conf), "--server", f"127.0.0.1:{cluster_dns.port}",
        "--timeout", TIMEOUT, "--bench-seconds", "0.6", "--proc-root", str(tmp_path),
        "--libc", "glibc", "--name", "web.shop.svc.cluster.local.",
    )  # fmt: skip
    resolve = _by_check(doc, "resolve")
    assert [f["severity"] for f in resolve] == ["ok", "ok"]
    assert "10.96.0.1" in resolve[0]["title"] and "10.96.10.10" in resolve[1]["title"]
    assert _by_check(doc, "timeouts")[0]["severity"] == "ok"
    assert {r["mode"] for r in doc["bench"]} == {"parallel", "reopen", "tcp"}
    assert all(r["lookups"] > 0 and r["try_timeouts"] == 0 for r in doc["bench"])
    assert _by_check(doc, "dns-policy")[0]["title"].startswith("ClusterFirst-like")
    assert code == 1  # the ClusterFirst ndots:5 amplification is a warning


def test_lossy_relay_names_the_conntrack_race(
    cluster_dns: Any, pod_resolv_conf: Path, doctor_json: Any, lossy_relay: Any, tmp_path: Path
) -> None:
    # A wide window makes the drop certain even if the client is preempted between its sends.
    with lossy_relay(("127.0.0.1", cluster_dns.port), window=0.05) as relay:
        code, doc = doctor_json(
            "--resolv-conf", str(pod_resolv_conf), "--server", f"127.0.0.1:{relay.port}",
            "--timeout", TIMEOUT, "--bench-seconds", "1.2", "--proc-root", str(tmp_path),
            "--libc", "glibc",
        )  # fmt: skip
        dropped = relay.counters.dropped
    assert code == 2 and dropped > 0
    # the single-question probe passes the relay: the name resolves
    assert _by_check(doc, "resolve")[0]["severity"] == "ok"
    runs = {r["mode"]: r for r in doc["bench"]}
    assert runs["parallel"]["try_timeouts"] > 0
    # reopen and TCP are new flows per socket: they pass (a reused source port may rarely not)
    assert runs["reopen"]["try_timeouts"] * 4 <= runs["parallel"]["try_timeouts"]
    assert runs["tcp"]["try_timeouts"] == 0
    race = _by_check(doc, "timeouts")[0]
    assert race["severity"] == "error"
    assert "conntrack insert race" in race["title"] and "stall 5 s" in race["title"]
    assert "none with reopen/TCP" in race["evidence"]
    assert "single-request-reopen" in race["fix"] and "node-local DNS cache" in race["fix"]


def test_dead_server_is_an_error(pod_resolv_conf: Path, doctor_json: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never read: every query times out
        port = sock.getsockname()[1]
        code, doc = doctor_json(
            "--resolv-conf", str(pod_resolv_conf), "--server", f"127.0.0.1:{port}",
            "--timeout", "0.2", "--bench-seconds", "0", "--proc-root", str(tmp_path),
        )  # fmt: skip
    assert code == 2
    resolve = _by_check(doc, "resolve")[0]
    assert resolve["severity"] == "error" and "timeout" in resolve["title"]


def test_remote_nameservers_and_cluster_replicas_are_not_probed(
    doctor_json: Any, tmp_path: Path
) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.53\nnameserver 10.96.0.10\n")
    _, doc = doctor_json(
        "--resolv-conf", str(conf), "--cluster", str(sample_cluster_path()),
        "--proc-root", str(tmp_path),
    )  # fmt: skip
    assert doc["probes"] and not any(p["probed"] for p in doc["probes"])
    titles = [f["title"] for f in _by_check(doc, "resolve")]
    assert all("not probed (--probe-remote to allow)" in t for t in titles)
    assert any(t.startswith("replica 10.244.") for t in titles)
    assert doc["bench"] == [] and _by_check(doc, "timeouts")[0]["severity"] == "info"


def test_replicas_on_loopback_are_asked_one_by_one(
    cluster_dns: Any, pod_resolv_conf: Path, doctor_json: Any, tmp_path: Path
) -> None:
    good = f"127.0.0.1:{cluster_dns.port}"
    _, doc = doctor_json(
        "--resolv-conf", str(pod_resolv_conf), "--server", good, "--replicas", f"{good},127.0.0.1:1",
        "--timeout", "0.2", "--bench-seconds", "0", "--proc-root", str(tmp_path),
    )  # fmt: skip
    replicas = {f["title"].split(" ")[1]: f["severity"] for f in _by_check(doc, "resolve")
                if f["title"].startswith("replica")}  # fmt: skip
    assert replicas == {good: "ok", "127.0.0.1:1": "error"}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_conntrack_and_libc_from_fixture_files(doctor_json: Any, tmp_path: Path) -> None:
    conf = _write(tmp_path / "etc", {"resolv.conf": "nameserver 192.0.2.1\n"}) / "resolv.conf"
    proc = _write(tmp_path / "proc", {
        "net/stat/nf_conntrack": "entries insert insert_failed drop\n0001 0000 0010 0002\n"
                                 "0001 0000 0005 0001\n",
        "sys/net/netfilter/nf_conntrack_count": "980\n",
        "sys/net/netfilter/nf_conntrack_max": "1000\n",
    })  # fmt: skip
    image = _write(tmp_path / "image", {"lib/ld-musl-x86_64.so.1": ""})
    _, doc = doctor_json("--resolv-conf", str(conf), "--proc-root", str(proc), "--root", str(image))
    assert doc["libc"].startswith("musl")
    race = _by_check(doc, "conntrack-insert")[0]
    assert race["severity"] == "warn" and "insert_failed 21" in race["evidence"]
    assert _by_check(doc, "conntrack-table")[0]["severity"] == "error"
    assert _by_check(doc, "send-options")[0]["title"].startswith("musl")


def test_corefile_traps_from_files(doctor_json: Any, tmp_path: Path) -> None:
    conf = _write(tmp_path, {"resolv.conf": "nameserver 192.0.2.1\n"}) / "resolv.conf"
    host = _write(tmp_path / "node", {"resolv.conf": "nameserver 127.0.0.53\n"}) / "resolv.conf"
    corefile = _write(tmp_path, {"Corefile": ".:53 {\n    forward . /etc/resolv.conf\n}\n"})
    _, doc = doctor_json(
        "--resolv-conf", str(conf), "--proc-root", str(tmp_path), "--corefile",
        str(corefile / "Corefile"), "--host-resolv-conf", str(host),
    )  # fmt: skip
    assert _by_check(doc, "corefile-forward-loop")[0]["severity"] == "error"
    assert "127.0.0.53" in _by_check(doc, "corefile-forward-loop")[0]["evidence"]
    assert _by_check(doc, "corefile-loop")[0]["severity"] == "warn"


def test_missing_resolv_conf_queries_nothing(tmp_path: Path) -> None:
    import contextlib
    import io

    from clusterdns.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["doctor", "--resolv-conf", str(tmp_path / "none"), "--json"])
    assert code == 1 and "cannot read" in err.getvalue()


def test_human_output_is_a_table(
    cluster_dns: Any, pod_resolv_conf: Path, tmp_path: Path, capsys: Any
) -> None:
    from clusterdns.cli import main

    main(["doctor", "--resolv-conf", str(pod_resolv_conf), "--server",
          f"127.0.0.1:{cluster_dns.port}", "--bench-seconds", "0", "--proc-root", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert "search-amplification" in out and "worst: warn" in out
