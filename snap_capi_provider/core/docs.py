"""Render the field catalogue as the Markdown reference in ``docs/fields.md``."""

from __future__ import annotations

from snap_capi_provider.core.fields import FIELDS, IDENTITY_RULE
from snap_capi_provider.core.normalize import ACTION_SOURCES, EVENT_NAME_ALIASES, EVENT_NAMES

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
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
