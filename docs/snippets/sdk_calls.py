"""The provider's side of each snap-business-sdk call (docs/migrating.md); tests/docs/test_docs.py runs it
against the emulator with ``snap_capi_default`` set."""

from __future__ import annotations

import time

from snap_capi_provider.hooks.snap_capi import SnapCapiHook

now = int(time.time())
rows = [{"event_id": "order-1", "event_name": "PURCHASE", "event_time": now - 60, "email": "person@example.com",
         "phone": "+44 844 412 4653", "value": 42.5, "currency": "USD"}]

# [START howto_sdk_send_events]
hook = SnapCapiHook("snap_capi_default")  # token, pixel id and base URL (or Launch Pad URL) from the connection
report = hook.send_events(rows)  # send_event / send_events / send_events_sync: any number of rows
print(report.to_dict()["accepted"], report.to_dict()["rejections"])
# [END howto_sdk_send_events]
assert report.accepted == 1

# [START howto_sdk_test_events]
verdicts = hook.validate_events(rows)  # send_test_event: the validate endpoint, nothing recorded as live
stats = hook.get_test_event_stats()  # get_test_event_stats
logs = hook.get_test_event_logs()  # get_test_event_logs
print(verdicts.valid, stats, logs.summary())
# [END howto_sdk_test_events]
assert verdicts.valid == 1

# [START howto_sdk_debug]
debug_hook = SnapCapiHook("snap_capi_default", debug=True)  # set_debug_mode(True); or the `debug` extra
debug_hook.send_events(rows)
# [END howto_sdk_debug]
