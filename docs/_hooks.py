"""MkDocs hook: ``<!-- include: path region -->`` becomes the ``# [START region]`` / ``# [END region]`` part of
``path`` (relative to the repository), as a Python code block. Airflow's providers include their samples the
same way (``exampleinclude``); ``tests/docs/test_docs.py`` checks every region exists in a file tests run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!-- include: (\S+) (\S+) -->$", re.MULTILINE)


def region(path: str, name: str) -> str:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"# [START {name}]")
    end = next(i for i, line in enumerate(lines) if line.strip() == f"# [END {name}]")
    body = [line for line in lines[start + 1:end] if not re.match(r"\s*# \[(START|END) ", line)]
    return textwrap.dedent("\n".join(body)).strip("\n")


def on_page_markdown(markdown: str, **_: object) -> str:
    def replace(match: re.Match) -> str:
        path, name = match.groups()
        return f'```python title="{path}"\n{region(path, name)}\n```'

    return INCLUDE.sub(replace, markdown)
