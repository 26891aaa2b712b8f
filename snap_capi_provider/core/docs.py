"""Render the field catalogue as the Markdown reference in ``docs/fields.md``."""

from __future__ import annotations

from snap_capi_provider.core.fields import FIELDS, IDENTITY_RULE
from snap_capi_provider.core.normalize import ACTION_SOURCES, EVENT_NAME_ALIASES, EVENT_NAMES, event_time
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
             "| v3 field | aliases | v3 location | hashed (v3) | v2 name | description |",
             "|---|---|---|---|---|---|"]
    for field in FIELDS:
        v2 = "—"
        if field.v2_key:
            v2 = f"`{field.v2_key}`" + (" (hashed)" if field.v2_hashed else "")
            if field.v2_soundex_key:
                v2 += f" + `{field.v2_soundex_key}` (Soundex)"
        aliases = ", ".join(f"`{alias}`" for alias in field.aliases) or "—"
        lines.append(f"| `{field.key}` | {aliases} | {field.location} | {'yes' if field.hashed else 'no'} "
                     f"| {v2} | {field.description} |")
    lines += ["", "## Event names", "", ", ".join(f"`{name}`" for name in EVENT_NAMES), "",
              "Accepted aliases (any case, spaces or hyphens for underscores): "
              + ", ".join(f"`{alias.lower()}` → `{name}`" for alias, name in EVENT_NAME_ALIASES.items()) + ".",
              "", "## Action sources", "", ", ".join(f"`{source}`" for source in ACTION_SOURCES), ""]
    lines += _rules()
    lines += ["## Rejection reasons", "",
              "Every code a row or a value can be rejected with (`dropped_<code>` when "
              "`invalid_field_policy=\"drop\"` keeps the row).", "", "| code | meaning and fix |", "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in REASONS.items()]
    lines += ["", "Absent, not rejected, and counted:", "", "| note | meaning |", "|---|---|"]
    lines += [f"| `{code}` | {text} |" for code, text in NOTES.items()] + [""]
    return "\n".join(lines)


def _example(example: tuple) -> str:
    raw, *context, result = example
    where = f" ({context[0]})" if context else ""
    shown = "absent" if result is None else f"`{result}`"
    return f"`{raw!r}`{where} → {shown}".replace("|", "\\|")


def _rules() -> list[str]:
    lines = ["## Normalization rules", "",
             "Values are read as trimmed NFC text first: empty, None, NaN and NA mean absent; a lone surrogate, "
             "a control character, an over-long text, a container or an object is rejected, never `str()`-ed. "
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


if __name__ == "__main__":
    print(render(), end="")
