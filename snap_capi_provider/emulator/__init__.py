"""A strict local emulator of Snap's Conversions API (CAPI), for tests, demos and benchmarks.

Built from the shared spec alone, independent of the provider's client code. v3 endpoints:
``POST /v3/{asset_id}/events``, ``POST /v3/{asset_id}/events/validate``,
``GET /v3/{asset_id}/events/validate/logs`` and ``.../stats`` (token in ``?access_token=`` or a
Bearer header). Legacy v2: ``POST /v2/conversion``, ``POST /v2/conversion/validate``,
``GET /v2/conversion/validate/logs?asset_id=`` and ``.../stats`` (Bearer header only).
Control endpoints (loopback only, no token): ``GET /_emulator/summary``, ``GET /_emulator/events``,
``GET /_emulator/test_events``, ``GET /_emulator/counts``, ``GET /_emulator/requests``,
``GET /_emulator/faults``, ``POST /_emulator/reset``, ``POST /_emulator/faults``,
``GET|POST /_emulator/config`` (``{"count_only": true}``: the send endpoints only count events and ids,
for benchmarks; also ``CapiEmulator(count_only=True)`` and ``snap-capi-emulator --count-only``).
OAuth (when started with ``oauth_client_id``/``oauth_client_secret``/``oauth_refresh_token``):
``POST /login/oauth2/access_token`` (refresh grant, tokens living ``token_lifetime_s``),
``POST /_emulator/oauth/revoke`` and ``POST /_emulator/oauth/expire``; ``summary()["token_refreshes"]``.

>>> with CapiEmulator() as emu:  # doctest: +SKIP
...     requests.post(f"{emu.url}/v3/PIXEL/events?access_token=test-token", json={"data": [...]})
"""

from .faults import FAULT_KINDS, Fault
from .server import CapiEmulator, RequestRecord

__all__ = ["FAULT_KINDS", "CapiEmulator", "Fault", "RequestRecord"]
