"""load() and file imports, on real files under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.corefile import CorefileError, load, parse
from clusterdns.corefile.files import glob_files, read_text

from .shapes import shape


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_with_env(tmp_path: Path) -> None:
    corefile = write(tmp_path / "Corefile", "{$ZONE} {\n  forward . {$UPSTREAM}\n}\n")
    blocks = load(str(corefile), {"ZONE": "example.org", "UPSTREAM": "127.0.0.1:5300"})
    assert shape(blocks) == [(["example.org"], [["forward", ".", "127.0.0.1:5300"]])]
    assert blocks[0].file == str(corefile)


def test_import_relative_to_the_importing_file(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "common.conf", "errors\nlog\nimport more/extra.conf\n")
    write(tmp_path / "conf" / "more" / "extra.conf", "\n\ncache 30\n")
    corefile = write(tmp_path / "Corefile", ". {\n  import conf/common.conf\n  whoami\n}\n")
    (block,) = load(str(corefile), {})
    assert [(d.name, Path(d.file).relative_to(tmp_path), d.line) for d in block.directives] == [
        ("errors", Path("conf/common.conf"), 1),
        ("log", Path("conf/common.conf"), 2),
        ("cache", Path("conf/more/extra.conf"), 3),
        ("whoami", Path("Corefile"), 3),
    ]


def test_import_glob_in_lexical_order_at_top_and_in_blocks(tmp_path: Path) -> None:
    # The k3s/AKS "coredns-custom" layout: *.override inside the block, *.server beside it.
    write(tmp_path / "custom" / "b.server", "b.org {\n  whoami\n}\n")
    write(tmp_path / "custom" / "a.server", "a.org {\n  log\n}\n")
    write(tmp_path / "custom" / ".hidden.override", "errors\n")
    write(tmp_path / "custom" / "x.override", "hosts {\n  fallthrough\n}\n")
    corefile = write(
        tmp_path / "Corefile",
        ".:53 {\n  import custom/*.override\n}\nimport custom/*.server\n",
    )
    # Go's filepath.Glob lets '*' match a leading dot, so .hidden.override comes first.
    assert shape(load(str(corefile), {})) == [
        ([".:53"], [["errors"], ["hosts", [["fallthrough"]]]]),
        (["a.org"], [["log"]]),
        (["b.org"], [["whoami"]]),
    ]


def test_empty_glob_is_only_a_warning(tmp_path: Path) -> None:
    corefile = write(tmp_path / "Corefile", ". {\n  import custom/*.override\n  log\n}\n")
    warnings: list[str] = []
    blocks = load(str(corefile), {}, warn=warnings.append)
    assert shape(blocks) == [(["."], [["log"]])]
    assert warnings == [f"{corefile}:2: import: no files match 'custom/*.override'"]


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    corefile = write(tmp_path / "Corefile", ". {\n\n  import conf/missing.conf\n}\n")
    with pytest.raises(CorefileError) as info:
        load(str(corefile), {})
    assert str(info.value) == (
        f'{corefile}:3: import "conf/missing.conf": no snippet by that name '
        f"and no file {tmp_path / 'conf' / 'missing.conf'}"
    )


def test_import_of_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    corefile = write(tmp_path / "Corefile", ". {\n  import conf\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:2: import \"conf\": cannot read .*conf"):
        load(str(corefile), {})


def test_file_import_cycle(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "log\nimport b.conf\n")
    write(tmp_path / "b.conf", "errors\nimport a.conf\n")
    corefile = write(tmp_path / "Corefile", ". {\n  import a.conf\n}\n")
    with pytest.raises(CorefileError) as info:
        load(str(corefile), {})
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    assert str(info.value) == f"{b}:2: import cycle: {a} -> {b} -> {a}"


def test_corefile_importing_itself(tmp_path: Path) -> None:
    corefile = write(tmp_path / "Corefile", "import ./Corefile\n")
    with pytest.raises(CorefileError, match=r"Corefile:1: import cycle: .*Corefile -> .*Corefile"):
        load(str(corefile), {})


def test_error_inside_an_imported_file_names_that_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "zones" / "bad.server", "b.org {\n  log\n")
    corefile = write(tmp_path / "Corefile", "import zones/*.server\n")
    with pytest.raises(CorefileError) as info:
        load(str(corefile), {})
    assert str(info.value) == f"{bad}:1: unclosed block opened here: add the matching '}}'"


def test_glob_with_two_wildcards_is_refused(tmp_path: Path) -> None:
    corefile = write(tmp_path / "Corefile", "import */*.server\n")
    with pytest.raises(CorefileError, match="a glob may hold only one"):
        load(str(corefile), {})


def test_snippet_defined_in_an_imported_file(tmp_path: Path) -> None:
    write(tmp_path / "snippets.conf", "(common) {\n  errors\n}\n")
    text = "import snippets.conf\n. {\n  import common\n}\n"
    blocks = parse(text, str(tmp_path / "Corefile"), read_file=read_text, glob=glob_files)
    assert shape(blocks) == [(["."], [["errors"]])]


def test_load_missing_corefile_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "Corefile"
    with pytest.raises(CorefileError) as info:
        load(str(missing))
    assert str(info.value) == f"Corefile {missing} does not exist"


def test_non_utf8_files_name_file_and_line(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_bytes(b". {\n  log \xff\n}\n")
    with pytest.raises(CorefileError) as info:
        load(str(corefile))
    assert str(info.value) == f"{corefile}:2: not UTF-8 text (byte 0xff)"
    imported = tmp_path / "extra.conf"
    imported.write_bytes(b"log\n\n\xfe\n")
    write(corefile, ". {\n  import extra.conf\n}\n")
    with pytest.raises(CorefileError) as info:
        load(str(corefile))
    assert str(info.value) == f"{imported}:3: not UTF-8 text (byte 0xfe)"
