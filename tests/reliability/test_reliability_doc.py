"""docs/reliability.md names a real test for each guarantee, and every reliability test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
REFERENCE = re.compile(r"`(tests/reliability/test_\w+\.py)::(\w+)`")


def defined_tests(path: Path) -> set[str]:
    """The names of the test functions a test module defines at its top level."""
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_every_reference_in_the_doc_is_a_real_test():
    references = REFERENCE.findall(DOC.read_text())
    assert references
    for path, name in references:
        assert name in defined_tests(ROOT / path), f"{path}::{name} does not exist"


def test_every_reliability_test_is_in_the_doc():
    referenced = set(REFERENCE.findall(DOC.read_text()))
    for path in sorted((ROOT / "tests" / "reliability").glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        relative = path.relative_to(ROOT).as_posix()
        for name in sorted(defined_tests(path)):
            assert (relative, name) in referenced, f"{relative}::{name} is not in {DOC.name}"
