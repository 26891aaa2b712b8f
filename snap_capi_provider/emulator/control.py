"""The emulator's control endpoints (``/_emulator/...``, loopback only, no token): read what was
recorded, reset, schedule faults, switch count-only mode, revoke or expire OAuth tokens."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from .faults import DEFAULT_RANDOM_KINDS, Fault
from .http import BodyError

if TYPE_CHECKING:
    from .http import RequestHandler

    _Base = RequestHandler
else:
    _Base = object


class ControlEndpoints(_Base):
    """``GET|POST /_emulator/...`` (a handler mixin)."""

    def _control(self, method: str, path: str) -> None:
        emu = self._emu
        has_body = method == "POST" or bool(self.headers.get("Content-Length"))
        if not self._peer_is_loopback():  # before the body: a remote client cannot make it read 64 MB
            self.close_connection = self.close_connection or has_body  # the body is left unread
            self._send(403, {"status": "ERROR", "reason": "control endpoints are loopback only"})
            return
        try:
            body = self._read_body() if has_body else b""
        except BodyError as exc:
            self.close_connection = self.close_connection or exc.close
            self._send(exc.status, {"status": "ERROR", "reason": exc.reason})
            return
        asset = self._param("asset_id")
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emulator/summary"):
            self._send(200, emu.summary())
        elif route == ("GET", "/_emulator/events"):
            self._send(200, emu.accepted_events(asset))
        elif route == ("GET", "/_emulator/test_events"):
            self._send(200, emu.test_events(asset))
        elif route == ("GET", "/_emulator/counts"):
            self._send(200, emu.accepted_count_by_event_id(asset))
        elif route == ("GET", "/_emulator/requests"):
            self._send(200, [asdict(r) for r in emu.requests])
        elif route == ("GET", "/_emulator/faults"):
            self._send(200, {"pending": [f.to_dict() for f in emu.pending_faults], **emu._faults.rate_config})
        elif route == ("POST", "/_emulator/reset"):
            emu.reset()
            self._send(200, {"status": "OK"})
        elif route == ("POST", "/_emulator/faults"):
            self._post_faults(body)
        elif route == ("POST", "/_emulator/oauth/revoke") and emu.oauth is not None:
            emu.revoke_refresh_token()
            self._send(200, {"status": "OK", **emu.oauth.counts()})
        elif route == ("POST", "/_emulator/oauth/expire") and emu.oauth is not None:
            emu.expire_access_tokens()
            self._send(200, {"status": "OK", **emu.oauth.counts()})
        elif route == ("GET", "/_emulator/config"):
            self._send(200, {"count_only": emu.count_only})
        elif route == ("POST", "/_emulator/config"):
            self._post_config(body)
        else:
            self._send(404, {"status": "ERROR", "reason": "unknown control endpoint"})

    def _peer_is_loopback(self) -> bool:
        try:
            peer = ipaddress.ip_address(self.client_address[0].split("%")[0])
        except ValueError:
            return False
        return (getattr(peer, "ipv4_mapped", None) or peer).is_loopback

    def _post_config(self, body: bytes) -> None:
        """Take ``{"count_only": true|false}``; answer the configuration now in force."""
        emu = self._emu
        try:
            spec = json.loads(body or b"null")
        except ValueError:
            spec = None
        if not isinstance(spec, dict) or set(spec) - {"count_only"} or not all(
            type(v) is bool for v in spec.values()
        ):
            self._send(400, {"status": "ERROR", "reason": 'expected a JSON object such as {"count_only": true}'})
            return
        if "count_only" in spec:
            emu.count_only = spec["count_only"]
        self._send(200, {"status": "OK", "count_only": emu.count_only})

    def _post_faults(self, body: bytes) -> None:
        """Take a JSON list of faults, or ``{"faults": [...], "rate": r, "kinds": [...], "seed": s}``."""
        emu = self._emu
        try:
            spec = json.loads(body or b"null")
            if isinstance(spec, list):
                spec = {"faults": spec}
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON list of faults or an object")
            faults = [Fault.from_dict(f) for f in spec.get("faults", [])]
            if "rate" in spec:
                emu.set_fault_rate(spec["rate"], spec.get("kinds", DEFAULT_RANDOM_KINDS), spec.get("seed"))
        except (ValueError, TypeError) as exc:
            self._send(400, {"status": "ERROR", "reason": str(exc)})
            return
        emu.add_faults(*faults)
        self._send(200, {"status": "OK", "scheduled": len(emu.pending_faults)})
