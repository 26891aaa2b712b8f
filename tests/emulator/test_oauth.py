"""The emulator's OAuth token endpoint: refresh grants, short-lived tokens, revocation, counts."""

from __future__ import annotations

import time

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator

PIXEL = "pixel-123"
APP = {"oauth_client_id": "cid-1", "oauth_client_secret": "s3cr+t/=x", "oauth_refresh_token": "rt+/=abc"}


def grant(emu: CapiEmulator, **overrides: str) -> requests.Response:
    form = {"grant_type": "refresh_token", "client_id": "cid-1", "client_secret": "s3cr+t/=x",
            "refresh_token": "rt+/=abc", **overrides}
    return requests.post(emu.token_url, data=form, timeout=5)


def stats(emu: CapiEmulator, token: str) -> int:
    return requests.get(f"{emu.url}/v3/{PIXEL}/events/validate/stats", params={"access_token": token},
                        timeout=5).status_code


@pytest.fixture
def emu():
    with CapiEmulator(access_tokens=("long-lived-token",), token_lifetime_s=0.5, **APP) as emu:
        yield emu


def test_grant_mints_a_token_the_endpoints_accept_until_it_expires(emu: CapiEmulator) -> None:
    answer = grant(emu)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 0.5
    assert stats(emu, body["access_token"]) == 200
    assert stats(emu, "long-lived-token") == 200  # the long-lived token still works beside OAuth
    time.sleep(0.6)
    assert stats(emu, body["access_token"]) == 401
    assert emu.summary()["token_refreshes"] == 1


def test_wrong_credentials_and_revocation(emu: CapiEmulator) -> None:
    assert grant(emu, client_secret="nope").status_code == 401
    assert grant(emu, client_secret="nope").json()["error"] == "invalid_client"
    wrong = grant(emu, refresh_token="other")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert grant(emu, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert requests.post(emu.token_url, json={"grant_type": "refresh_token"}, timeout=5).status_code == 400
    token = grant(emu).json()["access_token"]
    assert requests.post(f"{emu.url}/_emulator/oauth/revoke", timeout=5).status_code == 200
    assert grant(emu).json()["error"] == "invalid_grant"
    assert stats(emu, token) == 200  # minted tokens live on to their expiry
    requests.post(f"{emu.url}/_emulator/oauth/expire", timeout=5)
    assert stats(emu, token) == 401
    summary = emu.summary()
    assert summary["token_refreshes"] == 1
    assert summary["oauth"]["revoked"] is True and summary["oauth"]["token_refusals"] == 6


def test_rotation_and_configuration_errors() -> None:
    with CapiEmulator(rotate_refresh_token=True, **APP) as emu:
        first = grant(emu).json()
        assert first["refresh_token"] != APP["oauth_refresh_token"]
        assert grant(emu).status_code == 400  # the old refresh token is gone
        assert grant(emu, refresh_token=first["refresh_token"]).status_code == 200
    with pytest.raises(ValueError, match="together"):
        CapiEmulator(oauth_client_id="x")
    with CapiEmulator() as emu:  # no OAuth configured
        assert requests.post(emu.token_url, data={"a": "b"}, timeout=5).status_code == 404
        assert emu.summary()["token_refreshes"] == 0
