"""Every reason code a row or a value can be rejected with: what it means and how to fix it.

The normalizers (:mod:`.normalize`, :mod:`.phones`, :mod:`.dates`, :mod:`.places`) and the event
checks (:mod:`.events`, :mod:`.pipeline`, :mod:`.delivery`) only emit codes listed here; the field
reference (``docs/fields.md``) prints the table and a test checks every emitted code is in it. With
``invalid_field_policy="drop"`` a field-level code is counted as a warning ``dropped_<code>`` instead.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # any field
    "invalid_value_type": "The cell is not text or a number this field takes (a dict, list, set, bool, date, "
                          "object): export the field as text.",
    "invalid_text_encoding": "The text cannot be encoded as UTF-8 (a lone surrogate, e.g. a broken JSON "
                             "export, or a CSV cell in another encoding: pass the file's file_encoding, such "
                             "as cp1252): fix the export's encoding.",
    "not_utf8": "Bytes that are not UTF-8: decode the column before sending.",
    "invalid_control_character": "The text contains NUL or another control character: clean the column.",
    "value_too_long": "The text is longer than the field takes (1,000 characters; 2,048 for URLs and user "
                      "agents; 254 for emails): check the column mapping.",
    "number_too_large": "A number with more than 40 digits: no identifier or amount is that long.",
    "invalid_number": "An infinite number where a number is expected.",
    "imprecise_number": "A whole number stored as a float too large to hold it exactly (over 2^53 in a float64, "
                        "2^24 in a float32): its last digits may be another number's. Load the column as "
                        "integers or text.",
    "invalid_value": "Not a non-negative amount (or a value a rule could not read), or an ambiguous one "
                     "such as 1,299 without its currency (a thousand or a decimal comma; $1,299 is read): "
                     "send a plain decimal such as 42.50.",
    # user data
    "invalid_email": "Not a valid email address (at most 254 characters, one @, a domain with a dot).",
    "invalid_phone": "Not a valid phone number in the row's country, the default region or as an "
                     "international number: check the digits and the country.",
    "phone_without_country_code": "A national number without a country to read it in: map `country` or set "
                                  "`default_phone_region`.",
    "invalid_date_of_birth": "Not a date of birth (no such calendar date, or not a date form).",
    "incomplete_date_of_birth": "A date of birth with a part missing (a year alone, no day, a month name, a "
                                "time, 'now'): send year, month and day.",
    "ambiguous_date_of_birth": "A two-digit year: send four digits, e.g. 12/26/1997.",
    "date_of_birth_in_future": "A date of birth later than today.",
    "invalid_zip": "Not a zip or postal code (US: 5 digits, optionally +4; a placeholder such as `NULL` has no digit).",
    "invalid_state": "A placeholder for no value (`N/A`, `NULL`, `unknown`) where a state is expected: leave the "
                     "cell empty.",
    "invalid_country": "Not a known country name or ISO 3166-1 code.",
    "invalid_madid": "Not a mobile advertising id: send the IDFA / GAID UUID.",
    "invalid_ip_address": "Not a valid IPv4 or IPv6 address.",
    # custom data
    "invalid_currency": "Not an ISO 4217 currency code, name or sign of one currency ($ and ¥ are several).",
    "invalid_num_items": "Not a whole number between 0 and 1,000,000,000.",
    "invalid_content_ids": "content_ids is not a list of ids, a JSON array of them or a comma-separated text.",
    "invalid_contents": "contents is not a list (or JSON array) of items with a text `id` and optionally a "
                        "whole `quantity` and a numeric `item_price` (no other keys).",
    # privacy and app data
    "invalid_data_processing_options": "data_processing_options is not a list of known options (`LDU`), as a "
                                       "list, a JSON array or comma-separated text.",
    "invalid_advertiser_tracking_enabled": "advertiser_tracking_enabled is not 0 or 1 (true/false, yes/no).",
    "invalid_extinfo": "extinfo is not a list (or JSON array) of exactly 16 values.",
    "data_processing_options_not_in_v2": "The row asks for Limited Data Use (`data_processing_options`), which "
                                         "the legacy v2 event cannot carry: send it with `api_version=\"v3\"`.",
    # event level
    "unknown_event_name": "Not one of Snap's event names or a known alias (see Event names).",
    "invalid_action_source": "Not WEB, MOBILE_APP or OFFLINE (or a known alias).",
    "missing_event_name": "No event name in the row and no `event_name` default.",
    "missing_action_source": "No action source in the row and no `action_source` default.",
    "missing_event_time": "The event time is empty.",
    "invalid_event_time": "Not an aware datetime, ISO 8601 / RFC 2822 text or an epoch in s/ms/µs (relative "
                          "words such as 'now', day-or-month-first dates and zone abbreviations such as "
                          "'EST' are refused).",
    "naive_event_time": "A timestamp without an offset: set `timezone` or send an offset.",
    "ambiguous_local_event_time": "A local time without an offset that a daylight-saving change makes happen "
                                  "twice (01:30 on the night clocks go back) or never (02:30 when they go "
                                  "forward) in `timezone`: send the offset or UTC.",
    "invalid_timezone": "The configured `timezone` is not an IANA zone.",
    "event_too_old": "Older than `max_event_age_days` (Snap refuses old events).",
    "event_in_future": "Later than now plus `max_future_skew_s` (a skewed clock?).",
    "insufficient_identity": "No em, ph, madid, or client_ip_address with client_user_agent: Snap cannot "
                             "match the event.",
    "purchase_missing_currency": "A PURCHASE needs custom_data.currency.",
    "purchase_missing_value": "A PURCHASE needs custom_data.value.",
    "missing_event_id": "Every `event_id_columns` column is empty: no stable id can be derived.",
    "invalid_event_id_columns": "An `event_id_columns` value cannot be read as text.",
    "duplicate_event_id": "An event with the same event_id was already sent in this run.",
    "missing_pixel_id": "A web or offline event without a pixel id.",
    "missing_snap_app_id": "An app event without a Snap app id.",
    "missing_app_id": "A v2 app event without the store app id.",
    # files
    "unreadable_json_line": "A line of the JSON-lines file is not a JSON object (broken or cut JSON, or a "
                            "value that is no row): fix the export.",
    "malformed_csv_line": "The CSV line has more fields than the header (a value holding an unquoted "
                          "separator?): quote such values or fix the export.",
    # delivery
    "event_too_large": "The event alone exceeds Snap's request size limit.",
    "snap_rejected": "Snap refused the event; the text after the colon is Snap's own message.",
}

NOTES: dict[str, str] = {
    "gender_not_m_or_f": "A gender that is not m, male, f or female in any case (`other`, `X`, a code such as "
                         "`1`): Snap takes only m and f, so the value is left out and the row kept.",
    "madid_opted_out": "The all-zero advertising id (the user denied tracking): left out of the event, the row "
                       "is kept.",
    "placeholder_value": "A cell that stands for no value (N/A, NULL, nan, unknown, #N/A, a phone of "
                         "0000000000) in a field that no such word can be (an e-mail, phone, zip, state, "
                         "country, date) or in external_id (it would make every such row one person): left "
                         "out of the event, the row is kept.",
    "placeholder_date_of_birth": "A birth date that stands for none (0000-00-00, or more than 120 years ago "
                                 "such as 1900-01-01): left out of the event, the row is kept.",
}
"""Values that are absent for a reason worth counting, never a rejection (see ``normalize_column(notes=)``)."""


def describe(code: str) -> str | None:
    """The meaning of ``code``, also for ``dropped_<code>`` and ``snap_rejected: <message>``."""
    if code.startswith("dropped_"):
        code = code[len("dropped_"):]
    if code.startswith("snap_rejected"):
        code = "snap_rejected"
    return REASONS.get(code) or NOTES.get(code)
