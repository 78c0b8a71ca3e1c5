"""The docs point only at files inside the repository: every relative link resolves, and no file
names a note that lives outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_OUTSIDE = re.compile(r"TESTING\.md|DESIGN\.md|\.\./shared")


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.splitlines()]


def test_every_relative_link_of_the_docs_resolves() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for document in documents:
        for target in _LINK.findall(document.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (document.parent / target).resolve().exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_no_file_cites_a_note_outside_the_repository() -> None:
    citing = [
        str(path.relative_to(ROOT))
        for path in _tracked()
        if path.suffix in (".md", ".py", ".js", ".cfg", ".html", "")
        and path.is_file()
        and path.stat().st_size < 2_000_000
        and _OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert citing == [], citing
