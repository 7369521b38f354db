"""Corefile parser: tables of valid and invalid text, real Corefiles, snippets and env."""

from __future__ import annotations

import pytest

from clusterdns.corefile import CorefileError, Directive, ServerBlock, parse
from clusterdns.errors import ConfigError

from .shapes import shape

KUBEADM = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""

NODELOCALDNS = """\
cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . 10.96.0.10 {
            force_tcp
    }
    prometheus :9253
    health 169.254.20.10:8080
    }
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . 10.96.0.10 {
            force_tcp
    }
    prometheus :9253
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . /etc/resolv.conf
    prometheus :9253
    }
"""

VALID = [
    pytest.param("", [], id="empty file"),
    pytest.param("# only a comment\n\n   \n# another\n", [], id="comments only"),
    pytest.param(". {\n    whoami\n}\n", [(["."], [["whoami"]])], id="one block"),
    pytest.param(
        "example.org  Example.NET:1053 {\n  log\n}",
        [(["example.org", "Example.NET:1053"], [["log"]])],
        id="keys separated by spaces, kept as written",
    ),
    pytest.param(
        "a.org, b.org,\n  c.org {\n  log\n}",
        [(["a.org", "b.org", "c.org"], [["log"]])],
        id="comma separated keys spanning lines",
    ),
    pytest.param(
        "a.org:53 b.org:53 {\n errors\n}\n.:53 {\n forward . 127.0.0.1\n}\n",
        [(["a.org:53", "b.org:53"], [["errors"]]), ([".:53"], [["forward", ".", "127.0.0.1"]])],
        id="blocks sharing a port",
    ),
    pytest.param(
        ". {\n  a 1 {\n    b 2 {\n      c 3\n    }\n    d\n  }\n  e\n}",
        [(["."], [["a", "1", [["b", "2", [["c", "3"]]], ["d"]]], ["e"]])],
        id="nested blocks",
    ),
    pytest.param(
        ". {\n  forward . 127.0.0.1 { force_tcp }\n  cache { success 10 } \n}",
        [(["."], [["forward", ".", "127.0.0.1", [["force_tcp"]]], ["cache", [["success", "10"]]]])],
        id="one-line nested blocks",
    ),
    pytest.param(
        ". { # keys\n  log   # the log plugin\n  errors#no space needed\n  # whole line\n}",
        [(["."], [["log"], ["errors"]])],
        id="comments anywhere, even mid-word",
    ),
    pytest.param(
        '. {\n  hosts "a b" "say \\"hi\\"" "C:\\dir" "" x"y\n}',
        [(["."], [["hosts", "a b", 'say "hi"', "C:\\dir", "", 'x"y']])],
        id="quoted tokens: spaces, escaped quote, other backslashes kept, empty",
    ),
    pytest.param(
        '. {\n  template "{" "}" "#not a comment"\n}',
        [(["."], [["template", "{", "}", "#not a comment"]])],
        id="quoted braces and hash are text",
    ),
    pytest.param(
        '. {\n  rewrite name "multi\nline" x\n  log\n}',
        # Caddy's NextArg/isNewLine add the token's line breaks to its line: x, on the
        # line the quoted token ends on, is still an argument (coredns/caddy dispenser.go).
        [(["."], [["rewrite", "name", "multi\nline", "x"], ["log"]])],
        id="quoted token spanning lines",
    ),
    pytest.param(
        "{$ZONE}:{env.PORT} {\n  forward . {$UPSTREAM} {%WIN%}\n  log {$UNSET}x\n}",
        [(["cluster.local:1053"], [["forward", ".", "127.0.0.1", "w"], ["log", "x"]])],
        id="env substitution in all forms, unset is empty",
    ),
    pytest.param(
        "example.org\n{\n  log\n  forward . 127.0.0.1\n  {\n    force_tcp\n  }\n}",
        [(["example.org"], [["log"], ["forward", ".", "127.0.0.1", [["force_tcp"]]]])],
        id="opening brace on its own line",
    ),
    pytest.param(
        "example.org:1053\nlog\nforward . 127.0.0.1 {\n  force_tcp\n}\n",
        [(["example.org:1053"], [["log"], ["forward", ".", "127.0.0.1", [["force_tcp"]]]])],
        id="a sole block without braces",
    ),
    pytest.param("example.org", [(["example.org"], [])], id="keys and nothing else"),
    pytest.param(
        ". {\n}\nexample.org {}\n",
        [(["."], []), (["example.org", "{}"], [])],
        id="empty blocks ('{}' is one word, as in Caddy)",
    ),
    pytest.param(
        "a.org {\n  log\n} b.org {\n errors\n}",
        [(["a.org"], [["log"]]), (["b.org"], [["errors"]])],
        id="next block on the closing brace's line",
    ),
    pytest.param(
        "(common) {\n  errors\n  cache 30 {\n    denial 1 2\n  }\n}\n(opts) { force_tcp }\n"
        "a.org {\n  import common\n  log\n}\nb.org {\n  forward . 127.0.0.1 {\n    import opts\n  }\n}\n",
        [
            (["a.org"], [["errors"], ["cache", "30", [["denial", "1", "2"]]], ["log"]]),
            (["b.org"], [["forward", ".", "127.0.0.1", [["force_tcp"]]]]),
        ],
        id="snippets imported into server and nested blocks",
    ),
    pytest.param(
        "(blocks) {\n  a.org {\n    log\n  }\n  b.org {\n    errors\n  }\n}\nimport blocks\n",
        [(["a.org"], [["log"]]), (["b.org"], [["errors"]])],
        id="snippet of whole server blocks imported at the top",
    ),
    pytest.param(
        "(inner) {\n  log\n}\n(outer) {\n  import inner\n  errors\n}\n. {\n  import outer\n  import inner\n}",
        [(["."], [["log"], ["errors"], ["log"]])],
        id="snippet importing a snippet, imported twice",
    ),
    pytest.param(
        "\ufeff. {\r\n  log\r\n}\r\n",
        [(["."], [["log"]])],
        id="byte order mark and CRLF",
    ),
    pytest.param(
        ". {\n  hosts {\n    10.0.0.1 db.example.org\n    fallthrough\n  }\n}",
        [(["."], [["hosts", [["10.0.0.1", "db.example.org"], ["fallthrough"]]]])],
        id="block lines whose first word is data",
    ),
]

ENV = {"ZONE": "cluster.local", "PORT": "1053", "UPSTREAM": "127.0.0.1", "WIN": "w"}


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid(text: str, expected: list[object]) -> None:
    assert shape(parse(text, env=ENV)) == expected


INVALID = [
    pytest.param("}\n", "Corefile:1: unexpected '}'", id="stray closing brace"),
    pytest.param(
        ". {\n  log\n}\n}\n", "Corefile:4: unexpected '}'", id="one closing brace too many"
    ),
    pytest.param(
        "\n. {\n  log\n", "Corefile:2: unclosed block opened here", id="server block never closed"
    ),
    pytest.param(
        ". {\n  forward . 127.0.0.1 {\n    force_tcp\n",
        "Corefile:2: unclosed block opened here",
        id="nested block never closed",
    ),
    pytest.param(
        "{\n  log\n}\n",
        "Corefile:1: unexpected '{': a server block needs keys",
        id="block without keys",
    ),
    pytest.param(
        "errors\n.:53 {\n  whoami\n}\n",
        "Corefile:2: server block '.:53' follows a block without braces (keys at line 1: 'errors')",
        id="directive before any server block key",
    ),
    pytest.param(
        ". {\n  { errors }\n}\n",
        "Corefile:2: unexpected '{': a block must follow a directive",
        id="block without directive",
    ),
    pytest.param(
        ". {\n  cache { success 10 } denial 1\n}\n",
        "Corefile:2: unexpected 'denial' after '}': start a new line",
        id="words after a closing brace",
    ),
    pytest.param(
        "a.org { log } b.org {\n errors\n}",
        # CoreDNS: "Unexpected '}' because no matching opening brace" (coredns/coredns#7267).
        "Corefile:1: unexpected '}' on a directive's line",
        id="server block closed on a directive's line",
    ),
    pytest.param(
        "a.org, {\n}\n",
        "Corefile:1: expected another server key after ',' but found '{'",
        id="trailing comma before brace",
    ),
    pytest.param(
        "a.org, b.org,\n",
        "Corefile:1: expected another server key after ',' but the file ended",
        id="trailing comma at end of file",
    ),
    pytest.param(
        "example.org:1053{\n  log\n}\n",
        "Corefile:1: 'example.org:1053{': put a space before '{'",
        id="brace glued to key",
    ),
    pytest.param(
        '"" {\n  log\n}\n', "Corefile:1: server block has no keys", id="only an empty key"
    ),
    pytest.param(
        '. {\n  hosts "unterminated\n  log\n}\n',
        "Corefile:2: unterminated quoted string",
        id="unterminated quote",
    ),
    pytest.param(
        ". {\n  import nope\n}\n",
        'Corefile:2: import "nope": unknown snippet; define (nope) { ... } above the import',
        id="unknown snippet",
    ),
    pytest.param(
        ". {\n  import opts\n}\n(opts) {\n  log\n}\n",
        'Corefile:2: import "opts": unknown snippet',
        id="snippet used before its definition",
    ),
    pytest.param(
        ". {\n  import\n}\n", "Corefile:2: import takes one argument", id="import without name"
    ),
    pytest.param(
        "(a) {\n log\n}\n. {\n  import a b\n}\n",
        "Corefile:5: import takes one argument (a snippet name, file or glob), got 2",
        id="import with two names",
    ),
    pytest.param(
        "(a) {\n log\n}\n(a) {\n errors\n}\n",
        "Corefile:4: snippet (a) is already defined",
        id="snippet defined twice",
    ),
    pytest.param(
        "(a)\nlog\n", "Corefile:1: snippet (a) needs a { } block", id="snippet without braces"
    ),
    pytest.param(
        "(a) {\n  import b\n}\n(b) {\n  import a\n}\n. {\n  import a\n}\n",
        "Corefile:5: import cycle: (a) -> (b) -> (a)",
        id="snippet import cycle",
    ),
    pytest.param(
        "(a) {\n  import a\n}\n. {\n  import a\n}\n",
        "Corefile:2: import cycle: (a) -> (a)",
        id="snippet importing itself",
    ),
    pytest.param(
        ". {\n  {$NOPE} arg\n}\n",
        "Corefile:2: empty directive name (from '{$NOPE}')",
        id="directive name empty after env",
    ),
    pytest.param(
        ". {\n" + "a {\n" * 150 + "}\n" * 151,
        "nested more than 100 deep",
        id="nesting too deep",
    ),
    pytest.param(
        ". {\n  import conf/*.conf\n}\n",
        'Corefile:2: import "conf/*.conf": file imports are not available here',
        id="glob without a glob function",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(CorefileError) as info:
        parse(text, env={})
    assert message in str(info.value)


def test_error_is_a_config_error_with_place() -> None:
    with pytest.raises(ConfigError) as info:
        parse(". {\n  log\n\n}\n}", "/etc/coredns/Corefile")
    assert str(info.value) == "/etc/coredns/Corefile:5: unexpected '}': no block is open here"
    assert (info.value.file, info.value.line) == ("/etc/coredns/Corefile", 5)


def test_kubeadm_corefile() -> None:
    (block,) = parse(KUBEADM)
    assert block.keys == (".:53",)
    assert [d.name for d in block.directives] == [
        "errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache",
        "loop", "reload", "loadbalance",
    ]  # fmt: skip
    kubernetes = block.directives[3]
    assert kubernetes == Directive(
        "kubernetes",
        ("cluster.local", "in-addr.arpa", "ip6.arpa"),
        (
            Directive("pods", ("insecure",), (), "Corefile", 8),
            Directive("fallthrough", ("in-addr.arpa", "ip6.arpa"), (), "Corefile", 9),
            Directive("ttl", ("30",), (), "Corefile", 10),
        ),
        "Corefile",
        7,
    )
    cache = block.directives[6]
    assert [(d.name, d.args) for d in cache.block] == [
        ("disable", ("success", "cluster.local")),
        ("disable", ("denial", "cluster.local")),
    ]


def test_nodelocaldns_corefile() -> None:
    blocks = parse(NODELOCALDNS, "nodelocaldns")
    assert [(b.keys, b.line) for b in blocks] == [
        (("cluster.local:53",), 1),
        (("in-addr.arpa:53",), 16),
        ((".:53",), 27),
    ]
    first = blocks[0]
    assert first.directives[1] == Directive(
        "cache",
        (),
        (
            Directive("success", ("9984", "30"), (), "nodelocaldns", 4),
            Directive("denial", ("9984", "5"), (), "nodelocaldns", 5),
        ),
        "nodelocaldns",
        3,
    )
    assert [d.args for d in first.directives if d.name == "bind"] == [
        ("169.254.20.10", "10.96.0.10")
    ]
    assert [d.args for d in first.directives if d.name == "health"] == [("169.254.20.10:8080",)]
    assert shape(blocks[2:]) == [
        (
            [".:53"],
            [
                ["errors"], ["cache", "30"], ["reload"], ["loop"],
                ["bind", "169.254.20.10", "10.96.0.10"], ["forward", ".", "/etc/resolv.conf"],
                ["prometheus", ":9253"],
            ],
        )
    ]  # fmt: skip


def test_snippet_directives_keep_their_own_lines() -> None:
    text = "(common) {\n  errors\n  log\n}\n\n. {\n  import common\n  cache\n}\n"
    (block,) = parse(text)
    assert [(d.name, d.line) for d in block.directives] == [("errors", 2), ("log", 3), ("cache", 8)]
    assert block == ServerBlock((".",), block.directives, "Corefile", 6)


def test_env_value_is_one_token_and_never_a_brace() -> None:
    (block,) = parse(". {\n  hosts {$V}\n}", env={"V": "a b {"})
    assert block.directives[0].args == ("a b {",)


def test_env_defaults_to_nothing_set() -> None:
    (block,) = parse("{$ZONE}. {\n  log {$X}\n}")
    assert block.keys == (".",)
    assert block.directives[0].args == ("",)
