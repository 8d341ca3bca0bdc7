"""Property tests over the rule loading path (kept light: the YAML loader is being rewritten).

A rule file from a pull request, mangled at random (characters inserted, lines cut or repeated,
the file truncated): loading it either gives a pack or a ``PackLoadError`` naming the file,
and compiling the pack either works or raises a ``RuleCompileError``; nothing else escapes
(no traceback), and ``--skip-unsupported`` leaves the file out instead of stopping.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzz_strategies import GOOD, HOSTILE
from hypothesis import given
from hypothesis import strategies as st

from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import PackLoadError, load_pack
from ses_sigma.pack_skip import load_pack_skipping

SOURCE = GOOD.read_text(encoding="utf-8")


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = SOURCE
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "cut_line", "repeat_line", "truncate"]))
        lines = text.split("\n")
        at = draw(st.integers(0, len(lines) - 1))
        if kind == "insert":
            pos = draw(st.integers(0, len(text)))
            chunk = draw(st.text(alphabet=st.sampled_from(HOSTILE + ":-[]{}&*!|>%@"), max_size=6))
            text = text[:pos] + chunk + text[pos:]
        elif kind == "cut_line":
            text = "\n".join(lines[:at] + lines[at + 1 :])
        elif kind == "repeat_line":
            text = "\n".join(lines[: at + 1] + lines[at:])
        else:
            text = text[: draw(st.integers(0, len(text)))]
    return text


@given(text=mangled())
def test_a_mangled_rule_loads_or_is_named(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mangled.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            pack = load_pack([path])
        except PackLoadError as exc:
            assert str(path) in str(exc)
            skipped_pack, skipped = load_pack_skipping([path])
            assert len(skipped_pack) == 0 and skipped
            assert all(line.startswith(str(path)) for line in skipped)
            return
        try:
            Engine(pack)
        except RuleCompileError as exc:
            assert any(str(r.name) in str(exc) or str(r.id) in str(exc) for r in pack)
