"""Injected faults: scheduled and random, what each answers, what is recorded."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator, Fault
from tests.emulator.helpers import PIXEL, TOKEN, make_event, make_v2_event, post_v2, post_v3


def _statuses_with_rate(seed: int, n: int = 40) -> list[int]:
    with CapiEmulator() as emu:
        emu.set_fault_rate(0.5, kinds=("429", "500", "503"), seed=seed)
        with requests.Session() as s:
            url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
            statuses = [s.post(url, json={"data": [make_event()]}, timeout=10).status_code for _ in range(n)]
        assert [r.status for r in emu.requests] == statuses
        return statuses


def test_fault_429_with_retry_after_then_normal(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("429", retry_after=2), Fault("429"))
    r1, r2 = post_v3(emu, [make_event()]), post_v3(emu, [make_event()])
    assert r1.status_code == r2.status_code == 429
    assert r1.headers["Retry-After"] == "2" and "Retry-After" not in r2.headers
    assert emu.accepted_events() == []
    assert post_v3(emu, [make_event()]).status_code == 200
    assert [(r.status, r.fault) for r in emu.requests] == [(429, "429"), (429, "429"), (200, None)]
    assert emu.accepted_count_by_event_id() == {"order-1": 1}


@pytest.mark.parametrize(
    "kind, status",
    [("500", 500), ("502", 502), ("503", 503), ("401", 401), ("invalid_200", 200), ("garbage_200", 200)],
)
def test_fault_kinds_record_nothing(emu: CapiEmulator, kind: str, status: int) -> None:
    emu.add_faults(Fault(kind))
    r = post_v3(emu, [make_event()])
    assert r.status_code == status
    if kind == "invalid_200":
        assert r.json()["status"] == "INVALID"
    if kind == "garbage_200":
        with pytest.raises(ValueError):
            r.json()
    assert emu.accepted_events() == []
    rec = emu.requests[-1]
    assert (rec.fault, rec.status, rec.n_events) == (kind, status, 1)
    assert post_v3(emu, [make_event()]).status_code == 200


def test_fault_bad_event_400(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("bad_event_400", event_index=2), Fault("bad_event_400", event_index=99))
    r = post_v3(emu, [make_event(event_id=str(i)) for i in range(4)])
    assert r.status_code == 400 and r.json()["event"] == 2 and r.json()["status"] == "INVALID"
    r = post_v3(emu, [make_event(event_id=str(i)) for i in range(3)])
    assert r.json()["event"] == 2  # clamped to the batch
    assert emu.accepted_events() == []


def test_fault_drop(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        post_v3(emu, [make_event()])
    assert emu.accepted_events() == []
    assert emu.requests[-1].status == 0 and emu.requests[-1].fault == "drop"
    assert post_v3(emu, [make_event()]).status_code == 200


def test_fault_delay_times_out_but_is_processed(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("delay", delay_s=0.4))
    with pytest.raises(requests.Timeout):
        post_v3(emu, [make_event()], timeout=0.1)
    deadline = time.time() + 3
    while not (emu.requests and emu.accepted_events()) and time.time() < deadline:
        time.sleep(0.02)
    assert len(emu.accepted_events()) == 1
    assert emu.requests[-1].fault == "delay" and emu.requests[-1].status == 200


def test_faults_target_send_requests_unless_told(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("500"))
    assert post_v3(emu, [make_event()], suffix="/validate").status_code == 200  # validate not faulted
    assert post_v2(emu, [make_v2_event()]).status_code == 500  # v2 send is a send request
    emu.add_faults(Fault("503", path_contains="/validate"))
    assert post_v3(emu, [make_event()]).status_code == 200
    assert post_v3(emu, [make_event()], suffix="/validate").status_code == 503
    assert requests.get(f"{emu.url}/_emulator/summary", timeout=10).status_code == 200
    assert emu.pending_faults == []


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault("418")
    assert Fault(429).kind == "429"  # type: ignore[arg-type]


def test_seeded_fault_rate_is_reproducible() -> None:
    a, b, c = _statuses_with_rate(1), _statuses_with_rate(1), _statuses_with_rate(2)
    assert a == b
    assert a != c
    assert 5 < sum(s != 200 for s in a) < 35
    assert set(a) <= {200, 429, 500, 503}


def test_fault_rate_is_thread_safe_and_only_hits_send(emu: CapiEmulator) -> None:
    emu.set_fault_rate(0.3, kinds=("500",), seed=7)
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"

    def send(i: int) -> int:
        return requests.post(url, json={"data": [make_event(event_id=f"t{i}")]}, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(80)))
    assert statuses.count(200) == len(emu.accepted_events())
    assert statuses.count(500) == sum(r.fault == "500" for r in emu.requests)
    assert 0 < statuses.count(500) < 80
    for _ in range(5):
        assert post_v3(emu, [make_event()], suffix="/validate").status_code == 200
    emu.reset()
    assert all(post_v3(emu, [make_event()]).status_code == 200 for _ in range(10))  # reset turns it off
