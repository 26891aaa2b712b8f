"""The generated pages of the docs: field reference, troubleshooting, operator arguments.

``python -m snap_capi_provider.core.docs`` prints ``docs/fields.md``; ``--write`` writes every
generated page under ``docs/`` (``make docs`` does), ``--check`` fails when one is out of date.
The field and reason pages read only ``core``; the argument page imports the Airflow classes
lazily, so this module stays Airflow-free at import time.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

from snap_capi_provider.core.fields import FIELDS, IDENTITY_RULE
from snap_capi_provider.core.normalize import ACTION_SOURCES, EVENT_NAME_ALIASES, EVENT_NAMES, event_time
from snap_capi_provider.core.readiness import GROUPS
from snap_capi_provider.core.reasons import NOTES, REASONS

HEADER = """# Field reference

Generated from `snap_capi_provider/core/fields.py` by `python -m snap_capi_provider.core.docs`; a
test fails when this file is out of date. Map source columns to any name in the first two columns
(`field_mapping={{"email": "customer_email"}}`); without a mapping, columns already named like a field
or an alias are used.

Identity minimum per event: {identity}.
"""


def render() -> str:
    lines = [HEADER.format(identity=IDENTITY_RULE), "",
             "| v3 field | aliases | v3 location | hashed (v3) | v2 name | match readiness | description |",
             "|---|---|---|---|---|---|---|"]
    for field in FIELDS:
        v2 = "—"
        if field.v2_key:
            v2 = f"`{field.v2_key}`" + (" (hashed)" if field.v2_hashed else "")
            if field.v2_soundex_key:
                v2 += f" + `{field.v2_soundex_key}` (Soundex)"
        aliases = ", ".join(f"`{alias}`" for alias in field.aliases) or "—"
        lines.append(f"| `{field.key}` | {aliases} | {field.location} | {'yes' if field.hashed else 'no'} "
                     f"| {v2} | {_weight(field.key)} | {field.description} |")
    lines += ["", "## Event names", "", ", ".join(f"`{name}`" for name in EVENT_NAMES), "",
              "Accepted aliases (any case, spaces or hyphens for underscores): "
              + ", ".join(f"`{alias.lower()}` → `{name}`" for alias, name in EVENT_NAME_ALIASES.items()) + ".",
              "", "## Action sources", "", ", ".join(f"`{source}`" for source in ACTION_SOURCES), ""]
    lines += _readiness()
    lines += _rules()
    lines += ["## Rejection reasons", "",
              "Every code a row or a value can be rejected with (`dropped_<code>` when "
              "`invalid_field_policy=\"drop\"` keeps the row).", "", "| code | meaning and fix |", "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in REASONS.items()]
    lines += ["", "Absent, not rejected, and counted:", "", "| note | meaning |", "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in NOTES.items()] + [""]
    return "\n".join(lines)


def _weight(key: str) -> str:
    """The field's part in match readiness (:data:`~snap_capi_provider.core.readiness.GROUPS`)."""
    parts = []
    for group in GROUPS:
        if key in group.all_of or key in group.any_of:
            kind = "**strong**" if group.strong else "supporting"
            parts.append(kind if group.name == key else f"{kind}, in `{group.name}`")
    return "; ".join(parts) or "—"


def _readiness() -> list[str]:
    lines = ["## Match readiness", "",
             "Every send and validate report has a `match_readiness` section: the share of accepted events "
             "carrying each identifier group below, and the share with at least one **strong** identifier "
             "(a deterministic one that matches a person on its own; `min_match_ready_ratio` checks that "
             "share). Supporting groups are reported but only help next to a strong one. See "
             "[Match readiness](howto/match-readiness.md).", "",
             "| group in the report | the event carries | strong |", "|---|---|---|"]
    for group in GROUPS:
        carries = " and ".join(f"`{key}`" for key in group.all_of)
        if group.any_of:
            carries += " and one of " + ", ".join(f"`{key}`" for key in group.any_of)
        lines.append(f"| `{group.name}` | {carries} | {'yes' if group.strong else 'no'} |")
    return lines + [""]


def _example(example: tuple) -> str:
    raw, *context, result = example
    where = f" ({context[0]})" if context else ""
    shown = "absent" if result is None else f"`{result}`"
    return f"`{raw!r}`{where} → {shown}".replace("|", "\\|")


def _rules() -> list[str]:
    lines = ["## Normalization rules", "",
             "Values are read as trimmed NFC text first: empty, None, NaN and NA mean absent; a lone surrogate, "
             "a control character, an over-long text, a container or an object is rejected, never `str()`-ed "
             "(in names, cities, states, zips, countries and phones, whose rules drop spaces, a tab or line "
             "break inside a value reads as a space). "
             "A value of 64 hex characters is taken as already hashed (lower-cased, never hashed twice). "
             "A context in brackets is the row's country.", "",
             "| field | rule | accepted | rejected |", "|---|---|---|---|"]
    for field in FIELDS:
        rule = field.rule or (event_time if field.key == "event_time" else None)
        if rule is None or not (field.accepted or field.rejected):
            continue
        summary = " ".join((rule.__doc__ or "").strip().split("\n\n")[0].split())
        accepted = "<br>".join(_example(example) for example in field.accepted) or "—"
        rejected = "<br>".join(_example(example) for example in field.rejected) or "—"
        summary = summary.replace("|", "\\|")
        lines.append(f"| `{field.key}` | {summary} | {accepted} | {rejected} |")
    return lines + [""]


# ------------------------------------------------------------------------------- troubleshooting

FAILURES: dict[str, str] = {
    "retries_exhausted": "`retries_exhausted: <last error>`: a transient failure (408, 429, 5xx, a timeout, a "
                         "dropped connection) persisted through every retry. Snap may or may not have the events. "
                         "Re-run the task: the same rows get the same `event_id`s and Snap deduplicates them; raise "
                         "`hook_params={\"max_retries\": ...}` or lower `hook_params={\"concurrency\": ...}` / "
                         "`max_requests_per_second` when Snap answers 429.",
    "unconfirmed_response": "Snap answered 2xx with a body the provider cannot read (not JSON, unknown status): "
                            "delivery is unconfirmed, so the batch is not retried blindly. Re-run the task (safe: "
                            "stable `event_id`s); a Launch Pad or proxy that rewrites answers is the usual cause.",
    "http_<status>": "Snap answered a status that is neither success, a refusal of some events, an auth error "
                     "nor retryable (for example 404 for a wrong pixel or a wrong base URL): check the "
                     "connection's host, `api_version` and asset ids.",
    "not_sent_after_auth_error": "The token was refused (401/403, a 400 about the token, or an OAuth refresh "
                                 "that failed), so the run stopped sending; these rows were never sent. Fix the "
                                 "connection's token (or OAuth set) and re-run.",
    "not_sent_interrupted": "The task was stopped (marked failed or killed: `on_kill`) or an error interrupted "
                            "the run; these rows were read but not sent. Re-run the task.",
}
"""Reasons of *failed* rows (not known to be delivered): the report's ``failures.by_reason``."""

WARNINGS: dict[str, str] = {
    "dropped_<code>": "With `invalid_field_policy=\"drop\"`, an invalid value (reason `<code>`, see the table "
                      "above) was left out and the row kept.",
    "narrowed_with_validate": "Snap refused a batch without naming the bad event; the batch was checked on the "
                              "validate endpoint (nothing recorded as live) to find it. Nothing to fix.",
    "unconfirmed_response": "Counted once per unreadable 2xx answer (see the failure of the same name).",
    "web_event_without_event_source_url": "A WEB event without `event_source_url`: Snap expects the page URL "
                                          "for web events; map `event_source_url` (alias `page_url`).",
    "mapped_column_not_in_input": "A JSON-lines (or streamed dict rows) input where no row had a column that "
                                  "`field_mapping` names: its field was absent from every event. A typo in "
                                  "the mapping?",
    "snap_warning": "`snap_warning: <message>` (validation): Snap accepted the event but warned; the message is "
                    "Snap's own.",
    "gender_not_m_or_f": NOTES["gender_not_m_or_f"],
    "madid_opted_out": NOTES["madid_opted_out"],
    "placeholder_date_of_birth": NOTES["placeholder_date_of_birth"],
    "placeholder_value": NOTES["placeholder_value"],
    "<field>_not_sent_in_v2": "With `api_version=\"v2\"`, a mapped field the v2 event has no name for (`ge`, "
                              "`db`, `country`, `external_id`, ...): counted per row, not sent. v3 carries it.",
}
"""Counters in the report's ``warnings``: the row was kept."""

TASK_ERRORS: tuple[tuple[str, str], ...] = (
    # (a fragment of the message, as the code writes it; what it means and how to fix it)
    ("rows could not be delivered to Snap", "Some rows *failed* (see the failure reasons above); the others were "
     "sent. The report is in XCom, the rows in `rejected_rows_path` marked `failed`. Re-run: it is safe."),
    ("rows were rejected (max_rejected_ratio", "More rows were rejected than `max_rejected_ratio` allows; the "
     "valid ones were sent. Read the reasons in the message or `rejections.by_reason` and fix the source, or "
     "raise `max_rejected_ratio`."),
    ("Snap CAPI run stopped:", "The run stopped sending: `auth_error: ...` (token refused or OAuth refresh failed: "
     "fix the connection) or `stopped: ...` (the task was killed). Rows not sent are failed."),
    ("Snap CAPI validation stopped:", "As above, for the validate operator."),
    ("rows got no verdict from Snap", "The validate endpoint could not be reached for some rows after retries; "
     "re-run."),
    ("rows are invalid (rows", "`fail_on_invalid=True` and some rows are invalid: the message lists row numbers "
     "and reasons; so does the report in XCom."),
    ("no rows (fail_on_empty=True)", "The query or path gave nothing (when the count was known up front, nothing was "
     "sent). For SQL per data interval, "
     "check the interval is not zero-width ([Schedules](schedules.md))."),
    ("fewer than min_rows", "The source gave fewer rows than `min_rows`. When the count is known up front "
     "(in-memory rows, Parquet, `count_rows=True`) the task fails before sending anything."),
    ("carry a strong identifier", "`min_match_ready_ratio` is set and too few events carry an email, phone, mobile "
     "ad id, click id or cookie: see [Match readiness](howto/match-readiness.md). The events were sent."),
    ("logged test events are INVALID", "`SnapCapiTestEventLogsOperator(fail_on_invalid=True)`: Snap logged invalid "
     "test events; the summary's `errors` gives Snap's messages."),
    ("No pixel_id or snap_app_id", "Set `pixel_id` (WEB/OFFLINE) or `snap_app_id` (MOBILE_APP) on the connection "
     "or the operator."),
    ("No asset id", "The stats sensor or logs operator needs `asset_id`, or a pixel / app id on the connection."),
    ("Snap CAPI answered HTTP", "Reading test-event stats or logs failed with that status: check the token's "
     "access to the asset."),
    ("extra must be a JSON object", "The connection's extra is not a JSON object: see [Connections](connections.md)."),
    ("extra is not valid JSON", "The connection's extra is text that does not parse as JSON: see "
     "[Connections](connections.md)."),
    ("must be text, not a JSON", "A connection extra holds a list or an object where text is expected."),
    ("extra 'debug' must be true or false", "The connection's `debug` extra is a JSON boolean or `true`/`false` "
     "(also `1`/`0`, `yes`/`no`, `on`/`off`)."),
    ("api_version must be 'v3' or 'v2'", "The connection's `api_version` extra (or `hook_params`) names another "
     "version."),
    ("has both a long-lived access token", "Give either the password or the OAuth extras, not both."),
    ("has two different access tokens", "Keep the token in the password or in the `access_token` extra, not "
                                        "two different ones."),
    ("has an incomplete OAuth set", "The message names the missing OAuth extras (`client_id`, `client_secret`, "
     "`refresh_token`)."),
    ("has no credentials", "Set the password (long-lived token) or the OAuth extras."),
    ("is a URI Airflow could not read", "The connection URI starts `snap_capi://`: write `snap-capi://` (a URI "
     "scheme cannot hold `_`) or use the JSON form ([Connections](connections.md))."),
    ("Give exactly one source of rows", "Pass exactly one of `data`, `sql` or `path`."),
    ("sql needs sql_conn_id", "`sql=` needs `sql_conn_id`, the database's Airflow connection."),
    ("sql needs apache-airflow-providers-common-sql", "Install the SQL extra: `pip install \".[sql]\"` (or your "
     "database's provider)."),
    ("not a SQL hook", "`sql_conn_id` names a connection whose hook is not a common-sql `DbApiHook`."),
    ("sql_parameters must be a dict", "Pass named parameters as a dict or positional ones as a list."),
    ("is a folder: name a file in it", "`rejected_rows_path` names a folder: give a file in it (`.csv` or "
     "`.jsonl`). Checked before anything is sent."),
    ("No file matches path", "The path or glob matched no file: check the data interval in the path and the bucket."),
    ("A worker process preparing events died", "With `prepare_processes` > 1 a worker process was killed, "
     "most often by the kernel for lack of memory: the rows read but not sent are failed "
     "(`not_sent_interrupted`). Lower `prepare_processes` or `chunk_rows`, or give the task more memory; "
     "a re-run sends the same event ids, which Snap deduplicates."),
    ("first data row has more fields than its header", "The CSV's first row after the header has more values "
     "than the header has names, so pandas would drop the extra ones: name every column in the header (or "
     "quote values holding the separator). A later line with fields too many is rejected as "
     "`malformed_csv_line` instead."),
    ("Unknown hook_params", "Only `api_version`, `max_retries`, `retry_backoff_s`, `retry_backoff_max_s`, "
     "`timeout`, `concurrency`, `compress`, `debug` go into `hook_params`."),
    ("field_mapping is text, not a dict", "`field_mapping` came from a Jinja template, which renders to text: set "
     "`render_template_as_native_obj=True` on the DAG, or pass a dict."),
    ("needs shard_key", "`shard_count > 1` needs `shard_key` (or a mapped `event_id`, `order_id`, "
     "`client_dedup_id` or `transaction_id` column)."),
    (" must be ", "An argument is out of range (the message names it and the accepted range), checked when the DAG "
     "is parsed and again after templates are rendered."),
    ("before the deadline", "The stats sensor's `timeout` passed before Snap's stats showed `min_event_count` "
     "events (`AirflowSensorTimeout`, so `soft_fail=True` skips instead). Snap's stats lag by minutes: raise "
     "`timeout`, check the events were valid (validate report) and that `asset_id` is the pixel they went to."),
    ("Invalid sensor argument", "A templated sensor argument did not render to a valid value (e.g. "
     "`newer_than`)."),
    ("The Snap CAPI stats trigger ended without an event", "The triggerer lost the trigger; clear the task."),
    ("Give the trigger a timeout or a deadline", "Internal: the sensor always passes one."),
)
"""Task errors: a fragment of each message the operators, hook, sensor and sources raise or fail with."""


def render_troubleshooting() -> str:
    lines = ["# Troubleshooting", "",
             "Generated from `snap_capi_provider/core/reasons.py` and `core/docs.py` by "
             "`python -m snap_capi_provider.core.docs --write`; a test fails when the code can produce a reason "
             "or an error that is not listed here.", "",
             "Every input row ends in exactly one bucket: *accepted*, *rejected* (a reason below, before or by "
             "Snap) or *failed* (not known to be delivered). The report in XCom counts them per reason "
             "(`rejections.by_reason`, `failures.by_reason`) with example row numbers, never values; with "
             "`rejected_rows_path` every rejected and failed row is in a file with its reason.", "",
             "## Rejection reasons", "",
             "A rejected row was not sent (or Snap refused it); fixing the source and re-running sends it.", "",
             "| reason | meaning and fix |", "|---|---|"]
    lines += [f"| <a id=\"{code}\"></a>`{code}` | {text} |" for code, text in REASONS.items()]
    lines += ["", "## Failure reasons", "", "A failed row may or may not have reached Snap; the task fails. "
              "Re-running is safe: the same rows get the same `event_id`s.", "", "| reason | meaning and fix |",
              "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in FAILURES.items()]
    lines += ["", "## Warnings", "", "Counted in the report's `warnings`; the row was kept.", "",
              "| warning | meaning |", "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in WARNINGS.items()]
    lines += ["", "## Task errors", "",
              "What makes a task fail, by a fragment of its message. The send and validate operators push "
              "their report to XCom before failing.", "", "| message contains | meaning and fix |", "|---|---|"]
    lines += [f"| `{fragment.strip()}` | {text} |" for fragment, text in TASK_ERRORS]
    lines += ["", "## Log messages that are not errors", "",
              "- `Connection schemes (type: snap_capi) shall not contain '_' according to RFC3986.`: logged by "
              "Airflow itself, not by the provider. See [Connections](connections.md#the-scheme-warning).",
              "- `The source gave no rows: nothing was sent.`: a warning; set `fail_on_empty=True` to fail "
              "instead.",
              "- A match-readiness warning naming a field: see [Match readiness](howto/match-readiness.md).", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- arguments

_PARAM = re.compile(r"^\s*:param (\w+):\s?(.*)$")


def docstring_params(doc: str | None) -> dict[str, str]:
    """``:param name: text`` lines of a Sphinx-style docstring (more-indented continuation lines joined)."""
    params: dict[str, str] = {}
    current, indent = None, 0
    for line in (doc or "").splitlines():
        match = _PARAM.match(line)
        depth = len(line) - len(line.lstrip())
        if match:
            current, indent = match.group(1), depth
            params[current] = match.group(2).strip()
        elif current and line.strip() and depth > indent:
            params[current] += " " + line.strip()
        else:
            current = None
    return params


def own_arguments(cls: type) -> list[inspect.Parameter]:
    """The arguments ``cls.__init__`` declares itself (not ``self``, ``*args`` or ``**kwargs``)."""
    signature = inspect.signature(cls.__init__)
    return [p for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def argument_classes() -> list[type]:
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook
    from snap_capi_provider.operators.snap_capi import (
        SnapCapiRowsOperator,
        SnapCapiSendEventsOperator,
        SnapCapiTestEventLogsOperator,
        SnapCapiValidateOperator,
    )
    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor
    from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger

    return [SnapCapiRowsOperator, SnapCapiSendEventsOperator, SnapCapiValidateOperator,
            SnapCapiTestEventLogsOperator, SnapCapiTestEventStatsSensor, SnapCapiHook,
            SnapCapiTestEventStatsTrigger]


_INTROS = {
    "SnapCapiRowsOperator": "The base of the send and validate operators: every argument here is taken by both.",
    "SnapCapiSendEventsOperator": "Every argument of `SnapCapiRowsOperator`, and:",
    "SnapCapiValidateOperator": "Every argument of `SnapCapiRowsOperator`, and:",
    "SnapCapiHook": "The keys of the operators' and the sensor's `hook_params` are these arguments.",
}


def _default(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty:
        return "required"
    value = parameter.default
    if isinstance(value, str) and value:
        return f"`{value!r}`"
    if value is None or value == "":
        return "—"
    return f"`{value!r}`".replace("|", "\\|")


def render_arguments(classes: list[type] | None = None) -> str:
    classes = classes if classes is not None else argument_classes()
    lines = ["# Arguments", "",
             "Generated from the signatures and the `:param:` lines of the docstrings by "
             "`python -m snap_capi_provider.core.docs --write`; a test fails when an argument has no "
             "`:param:` line or this page is out of date. *Templated* arguments take Jinja "
             "(`{{ data_interval_start }}`, `{{ ds }}`, XCom pulls).", ""]
    for cls in classes:
        params = docstring_params(cls.__doc__)
        templated = set(getattr(cls, "template_fields", ()) or ())
        lines += [f"## {cls.__name__}", "", f"`{cls.__module__}.{cls.__name__}`", ""]
        if cls.__name__ in _INTROS:
            lines += [_INTROS[cls.__name__], ""]
        lines += ["| argument | default | templated | meaning |", "|---|---|---|---|"]
        for parameter in own_arguments(cls):
            text = params.get(parameter.name, "**undocumented**").replace("|", "\\|")
            text = re.sub(r":(?:class|func|meth|data|mod):`~?([\w.]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`",
                          text)
            lines.append(f"| `{parameter.name}` | {_default(parameter)} | "
                         f"{'yes' if parameter.name in templated else ''} | {text} |")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- CLI

def pages() -> dict[str, Any]:
    """Each generated page (path under ``docs/``) and the function that renders it."""
    return {"fields.md": render, "troubleshooting.md": render_troubleshooting, "arguments.md": render_arguments}


def main(argv: list[str]) -> int:
    docs = Path(argv[argv.index("--docs") + 1]) if "--docs" in argv else Path("docs")
    if "--write" in argv or "--check" in argv:
        stale = []
        for name, render_page in pages().items():
            text = render_page()
            target = docs / name
            if "--check" in argv:
                if not target.exists() or target.read_text(encoding="utf-8") != text:
                    stale.append(str(target))
            elif not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                print(f"wrote {target}")
        if stale:
            print(f"out of date: {', '.join(stale)}; run `python -m snap_capi_provider.core.docs --write`")
            return 1
        return 0
    print(render(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
