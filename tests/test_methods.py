"""The methods registry: lookups, registration errors, labels, and no method literal elsewhere."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from brainuad import methods
from brainuad.errors import ConfigError
from brainuad.methods import (
    Method,
    all_methods,
    default_methods,
    export_preference,
    get_method,
    label_html,
    label_tex,
    method_label,
    register_method,
    registered,
    unregister_method,
)

SRC = Path(methods.__file__).parent


def _throwaway(**kw: object) -> Method:
    fields = dict(id="vae-tmp", label="VAE-a_tmp", uses_age_input=True, has_age_head=False)
    fields.update(help="a test method", **kw)
    return Method(**fields)  # type: ignore[arg-type]


def test_the_default_study_is_the_papers_three_methods() -> None:
    assert default_methods() == ("vae", "vae-ac", "vae-ap")
    assert [m.id for m in all_methods()][:4] == ["vae", "vae-ac", "vae-ap", "vae-acp"]
    assert export_preference()[:3] == ("vae-ap", "vae-ac", "vae")


def test_vae_acp_has_both_capabilities() -> None:
    m = get_method("vae-acp")
    assert m.uses_age_input and m.has_age_head and m.needs_age and not m.default
    assert m.label == "VAE-a_cp"
    assert not get_method("vae").needs_age and get_method("vae-ac").needs_age


def test_labels_with_any_subscript() -> None:
    assert [method_label(m) for m in ("vae", "vae-ac", "vae-acp", "mine")] == [
        "VAE",
        "VAE-a_c",
        "VAE-a_cp",
        "mine",
    ]
    assert label_html("VAE-a_cp") == "VAE-a<sub>cp</sub>" and label_html("VAE") == "VAE"
    assert label_tex("VAE-a_p") == "VAE-$a_p$" and label_tex("VAE-a_cp") == "VAE-$a_{cp}$"
    assert label_tex("Model 2") == "Model 2"


def test_registering_and_unregistering_a_method() -> None:
    with registered(_throwaway()) as m:
        assert get_method("vae-tmp") is m and "vae-tmp" not in default_methods()
        assert export_preference()[-1] == "vae-tmp"
    with pytest.raises(ConfigError, match="expected one of vae, .*found 'vae-tmp'"):
        get_method("vae-tmp")
    unregister_method("vae-tmp")  # unknown ids are ignored


def test_registration_errors() -> None:
    with pytest.raises(ConfigError, match="expected a new id and label, found them taken by 'vae'"):
        register_method(_throwaway(id="vae"))
    with pytest.raises(ConfigError, match="taken by 'vae-ap' \\(VAE-a_p\\)"):
        register_method(_throwaway(label="VAE-a_p"))
    with pytest.raises(ConfigError, match="method id: expected lower-case .*found 'VAE x'"):
        _throwaway(id="VAE x")
    with pytest.raises(ConfigError, match="method label: expected at most one '_', found 'a_b_c'"):
        _throwaway(label="a_b_c")


def test_the_registry_imports_no_torch() -> None:
    code = "import sys, brainuad.methods, brainuad.reports.tables; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def method_literals(path: Path, root: Path = SRC) -> list[str]:
    """String literals (docstrings aside) of a source file that name a method id or label.

    The baseline's label is also the architecture's name, so only a literal that *is* that
    label counts; ids and subscripted labels count as words anywhere in a literal.
    """
    words = {m.id for m in all_methods()} | {m.label for m in all_methods() if "_" in m.label}
    whole = {m.label for m in all_methods()}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            found = set(re.findall(r"[A-Za-z][\w-]*", node.value)) & words
            if found or node.value in whole:
                hits.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    return hits


def test_no_method_literal_outside_the_registry_and_models() -> None:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel != "methods.py" and not rel.startswith("models/"):
            hits += method_literals(path)
    assert hits == []


def test_the_literal_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('"""vae-ap"""\nX = ("vae-ap", "VAE-a_c", "VAE")\nY = ("vae_loss", "a VAE")\n')
    assert len(method_literals(bad, tmp_path)) == 3
