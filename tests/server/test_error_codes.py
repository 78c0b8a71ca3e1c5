"""Every error code the HTTP API can answer with is in the status table of docs/api.md, which
tests/static/catalogue.test.mjs holds the pages' messages to (an English and a French message
for each): a code added to the server without its row would reach people as "Something went
wrong". Read from the source, so a code that only a rare path raises counts too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "booth_server").glob("*.py")), *sorted((ROOT / "scheduler").glob("*.py"))]
#: Codes raised on purpose that never reach a JSON answer, and where they go instead.
NOT_IN_THE_API = {"booking_changed": ROOT / "booth_server" / "cancel_page.py"}


def documented_codes() -> set[str]:
    codes: set[str] = set()
    for line in (ROOT / "docs" / "api.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and re.fullmatch(r"\d{3}|other", cells[1]):
            codes.update(re.findall(r"`(\w+)`", cells[3]))
    return codes


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


class _Codes(ast.NodeVisitor):
    """Codes given at a raise (``code="x"``), to ``error_response``, in ``_HTTP_CODES``; each
    error class's own ``code``, its bases, and the calls that build it without a ``code=``."""

    def __init__(self) -> None:
        self.given: dict[str, str] = {}  # code -> where
        self.class_code: dict[str, str] = {}
        self.bases: dict[str, list[str]] = {}
        self.bare_calls: dict[str, str] = {}  # class -> where it is built without code=
        self.where = ""

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bases[node.name] = [name for base in node.bases if (name := _name(base))]
        for statement in node.body:
            if isinstance(statement, ast.Assign) and [_name(t) for t in statement.targets] == ["code"]:
                code = _literal(statement.value)
                if code:
                    self.class_code[node.name] = code
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        where = f"{self.where}:{node.lineno}"
        keywords = {k.arg: k.value for k in node.keywords}
        if (code := _literal(keywords.get("code"))) is not None:
            self.given[code] = where
        callee = _name(node.func)
        if callee == "error_response" and len(node.args) > 1 and (code := _literal(node.args[1])):
            self.given[code] = where
        if callee and "code" not in keywords:
            self.bare_calls.setdefault(callee, where)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if [_name(t) for t in node.targets] == ["_HTTP_CODES"] and isinstance(node.value, ast.Dict):
            for value in node.value.values:
                if code := _literal(value):
                    self.given[code] = f"{self.where}:{node.lineno}"
        self.generic_visit(node)

    def effective_code(self, cls: str) -> str | None:
        """The code an instance of ``cls`` carries when none is given: its own, else a base's."""
        if cls in self.class_code:
            return self.class_code[cls]
        return next((c for base in self.bases.get(cls, []) if (c := self.effective_code(base))), None)


def _read_sources() -> _Codes:
    codes = _Codes()
    for path in SOURCES:
        codes.where = str(path.relative_to(ROOT))
        codes.visit(ast.parse(path.read_text(encoding="utf-8")))
    return codes


def test_every_code_the_api_answers_with_is_documented() -> None:
    documented = documented_codes()
    assert {"conflict", "quota", "email_taken", "http_error"} <= documented, "docs/api.md table not read"
    codes = _read_sources()
    assert {"conflict", "quota", "draining", "not_found", "booking_changed"} <= set(codes.given) | set(
        codes.class_code.values()
    ), "the server's codes were not read"
    undocumented = {
        code: where
        for code, where in codes.given.items()
        if code not in documented and code not in NOT_IN_THE_API
    }
    assert undocumented == {}, "codes the API sends that docs/api.md (and the pages) do not know"
    # An error class whose default code is not documented may only be raised with its own code.
    built_bare = {
        cls: f"{where}: {cls}(...) without code= answers {code!r}"
        for cls, where in codes.bare_calls.items()
        if (code := codes.effective_code(cls)) is not None and code not in documented
    }
    assert built_bare == {}


def test_codes_kept_out_of_the_api_are_handled_where_they_go() -> None:
    for code, page in NOT_IN_THE_API.items():
        assert f'"{code}"' in page.read_text(encoding="utf-8"), (code, page)
        assert code not in documented_codes(), f"{code} is documented: drop it from NOT_IN_THE_API"
