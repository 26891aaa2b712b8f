"""The docs cannot drift: generated pages are current, every reason, error and argument is documented, every
code sample is included from a file that tests run (or is run here), and every docstring's seealso resolves."""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import pytest

from snap_capi_provider.core import docs as gen
from snap_capi_provider.core.reasons import NOTES, REASONS, describe
from tests.conftest import ROOT

DOCS = ROOT / "docs"
PACKAGE = ROOT / "snap_capi_provider"
CORE = PACKAGE / "core"
MARKDOWN = sorted(DOCS.rglob("*.md"))
sys.path.insert(0, str(DOCS))
from _hooks import INCLUDE, region  # noqa: E402


def _source(*folders: Path) -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for folder in folders for path in folder.rglob("*.py")}


@pytest.mark.parametrize("name", sorted(gen.pages()))
def test_generated_pages_are_current(name):
    assert (DOCS / name).read_text(encoding="utf-8") == gen.pages()[name](), (
        f"docs/{name} is stale: run `python -m snap_capi_provider.core.docs --write` (make docs does)")


def test_every_argument_has_a_param_line():
    missing = [f"{cls.__name__}({arg.name})" for cls in gen.argument_classes()
               for arg in gen.own_arguments(cls) if arg.name not in gen.docstring_params(cls.__doc__)]
    assert not missing, f"arguments without a :param: line in the class docstring: {missing}"
    assert "**undocumented**" not in (DOCS / "arguments.md").read_text(encoding="utf-8")


def test_every_field_is_in_the_field_reference():
    from snap_capi_provider.core.fields import FIELDS

    text = (DOCS / "fields.md").read_text(encoding="utf-8")
    for field in FIELDS:
        assert f"| `{field.key}` |" in text and all(f"`{alias}`" in text for alias in field.aliases), field.key


def _emitted_reasons() -> set[str]:
    """Every rejection code the code can emit (the same patterns as tests/core/test_normalize_rules.py, over
    the whole package)."""
    emitted = set()
    for source in _source(PACKAGE).values():
        emitted |= set(re.findall(r'InvalidValue\("([a-z_0-9]+)"\)', source))
        emitted |= set(re.findall(r'reasons\[i\] = (?:reasons\[i\] or )?"([a-z_0-9]+)"', source))
        emitted |= set(re.findall(r'\(\w+, "([a-z_]+(?:_id|_large|_event_id))"', source))
        emitted |= {f"missing_{key}" for key in re.findall(r'_fill_constant\(plain, "([a-z_]+)"', source)}
        emitted |= set(re.findall(r'return None, "([a-z_]+)", None', source))
        emitted |= set(re.findall(r'"invalid_phone" if regions else "([a-z_]+)"', source))
        emitted |= {"snap_rejected"} if '"snap_rejected' in source else set()
    return emitted - {"event_id", "order_id", "app_id"}


def test_every_rejection_reason_is_in_troubleshooting():
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    emitted = _emitted_reasons()
    assert {"invalid_email", "invalid_phone", "duplicate_event_id", "event_too_old"} <= emitted
    assert all(describe(code) for code in emitted), sorted(c for c in emitted if not describe(c))
    missing = sorted(code for code in (*emitted, *REASONS, *NOTES) if f"`{code}`" not in text)
    assert not missing, f"reasons missing from docs/troubleshooting.md: {missing}"


def test_every_failure_and_warning_code_is_documented():
    failures, warnings = set(), set()
    for source in _source(CORE).values():
        failures |= set(re.findall(r'^(?:NOT_SENT|INTERRUPTED|UNCONFIRMED) = "([a-z_]+)"', source, re.M))
        failures |= {"retries_exhausted"} if '"retries_exhausted: "' in source else set()
        failures |= {"http_<status>"} if 'f"http_{' in source else set()
        warnings |= set(re.findall(r'\.warn\("([a-z_]+)"\)', source))
        warnings |= set(re.findall(r'warnings\["([a-z_]+)"\]', source)) - {"dropped_invalid_content_ids"}
        warnings |= {"dropped_<code>"} if 'f"dropped_{' in source else set()
        warnings |= {"snap_warning"} if '"snap_warning: "' in source else set()
    assert {"not_sent_after_auth_error", "not_sent_interrupted", "unconfirmed_response"} <= failures
    assert not failures - set(gen.FAILURES), sorted(failures - set(gen.FAILURES))
    assert not warnings - set(gen.WARNINGS), sorted(warnings - set(gen.WARNINGS))


def _messages() -> list[str]:
    """The literal text of every error the Airflow layer and the sources raise or fail a task with."""
    texts = []
    folders = [PACKAGE / name for name in ("operators", "sensors", "hooks", "triggers", "utils")]
    for source in _source(*folders).values():
        for match in re.finditer(r'(?:raise \w+\(|return \(?)\s*f?"([^"]{8,})"', source):
            texts.append(re.sub(r"\{[^}]*\}", "…", match.group(1)))
    return texts


NOT_ERRORS = ("Reading ", "Snap CAPI dry run", "Snap CAPI report", "SnapCapiSettings(", "the OAuth refresh token",
              "the long-lived access token")  # log lines, a repr, the auth description


def test_every_task_error_is_in_troubleshooting():
    fragments = [fragment for fragment, _ in gen.TASK_ERRORS]
    messages = [text for text in _messages() if text[0].isupper() or " " in text]
    undocumented = [text for text in messages if not any(fragment in text for fragment in fragments)
                    and not text.startswith(NOT_ERRORS)]
    assert not undocumented, f"task errors missing from core/docs.py TASK_ERRORS: {undocumented}"
    source = "\n".join(_source(PACKAGE).values())
    stale = [fragment for fragment in fragments if fragment not in source]
    assert not stale, f"TASK_ERRORS fragments the code no longer produces: {stale}"


def test_every_seealso_target_has_an_anchor():
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', "\n".join(p.read_text(encoding="utf-8") for p in MARKDOWN)))
    refs = set()
    for source in _source(PACKAGE).values():
        refs |= set(re.findall(r":ref:`(howto/[^`]+)`", source))
    assert {"howto/operator:SnapCapiSendEventsOperator", "howto/operator:SnapCapiValidateOperator",
            "howto/operator:SnapCapiTestEventLogsOperator", "howto/operator:SnapCapiTestEventStatsSensor",
            "howto/operator:SnapCapiRowsOperator", "howto/connection:snap_capi"} <= refs
    assert refs <= anchors, sorted(refs - anchors)


RUN_BY_TESTS = ("example_dags/", "docs/snippets/", "tests/")


def test_every_included_sample_is_a_region_of_a_file_tests_run():
    includes = [(page, *match.groups()) for page in MARKDOWN for match in INCLUDE.finditer(page.read_text("utf-8"))]
    assert len(includes) >= 15
    for page, path, name in includes:
        assert path.startswith(RUN_BY_TESTS), (page.name, path)
        assert region(path, name).strip(), (page.name, path, name)
    for path in (ROOT / "example_dags").glob("example_*.py"):
        assert path.stem in (ROOT / "tests").joinpath("docs", "test_docs_examples.py").read_text("utf-8") or \
            path.stem in "\n".join(p.read_text("utf-8") for p in (ROOT / "tests" / "airflow").glob("*.py")), path


def _fenced(language: str) -> list[tuple[str, str]]:
    blocks = []
    for page in MARKDOWN:
        blocks += [(page.name, body) for body in
                   re.findall(rf"^```{language}[^\n]*\n(.*?)^```", page.read_text("utf-8"), re.S | re.M)]
    return blocks


def test_no_python_block_is_typed_into_a_page():
    """Python samples are included from example DAGs, snippets and tests, which the tests run."""
    assert not _fenced("python"), [name for name, _ in _fenced("python")]
    assert not _fenced("py"), [name for name, _ in _fenced("py")]


def test_json_blocks_parse():
    blocks = _fenced("json")
    assert blocks
    for _name, body in blocks:
        try:
            json.loads(body)
        except json.JSONDecodeError:  # JSON lines: one document a line
            for line in body.splitlines():
                json.loads(line)


def test_env_var_json_in_bash_blocks_parses():
    found = 0
    for _name, body in _fenced("bash"):
        for value in re.findall(r"AIRFLOW_CONN_\w+='(\{.*?\})'", body, re.S):
            json.loads(value)
            found += 1
    assert found >= 4


@pytest.mark.usefixtures("airflow_db")
def test_the_sdk_snippet_runs_against_the_emulator(snap_conn):
    runpy.run_path(str(DOCS / "snippets" / "sdk_calls.py"), run_name="__main__")
    assert len(snap_conn.accepted_events()) == 1  # the debug send repeats the same event_id: deduplicated


def test_readme_keeps_its_commands_and_the_performance_placeholder():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in text and "make demo" in text and "make docs" in text
    assert "## Performance" in text and "<!-- performance figures: filled from make bench -->" in text
    assert "pip install snap-capi-provider" not in text
    for old in ("operators.send_events", "operators.validate", "sensors.test_event_stats", "triggers.test_event_stats"):
        assert f"snap_capi_provider.{old}" not in text
