"""Airflow hook for Snap's Conversions API: a ``snap_capi`` connection turned into a client."""

from __future__ import annotations

import difflib
import json
import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from snap_capi_provider.core.async_client import AsyncSnapCapiClient
from snap_capi_provider.core.auth import (
    DEFAULT_TOKEN_URL,
    OAuthTokenProvider,
    StaticToken,
    TokenProvider,
    check_secret_text,
)
from snap_capi_provider.core.client import (
    DEFAULT_BASE_URL,
    ApiResponse,
    RetryPolicy,
    SnapCapiClient,
    SnapCapiError,
)
from snap_capi_provider.core.event_logs import TestEventLogs
from snap_capi_provider.core.event_stats import TestEventStats
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, RowSink, asset_text, send_rows
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.core.urls import check_https_or_loopback, safe_url
from snap_capi_provider.core.validation import ValidationReport, validate_rows
from snap_capi_provider.core.wire import API_VERSIONS

log = logging.getLogger(__name__)
OAUTH_FIELDS = ("client_id", "client_secret", "refresh_token")
CONN_EXTRA_FIELDS = ("pixel_id", "snap_app_id", "app_id", "api_version", "debug", *OAUTH_FIELDS, "token_url")
#: Extras read as text: a list or an object there is a mistake, not an id.
_TEXT_EXTRAS = ("pixel_id", "snap_app_id", "app_id", "api_version", *OAUTH_FIELDS, "token_url", "access_token")
_KNOWN_EXTRAS = frozenset({*CONN_EXTRA_FIELDS, "access_token"})
#: Values of the ``debug`` extra (a JSON boolean, a number or text, case-insensitive): anything else is refused.
_FLAGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False,
          "": False, "none": False}
AUTH_TOKEN = "token"
AUTH_OAUTH = "oauth"
HOOK_PARAMS = ("api_version", "max_retries", "retry_backoff_s", "retry_backoff_max_s", "timeout", "concurrency",
               "compress", "debug")
"""Keys of an operator's or sensor's ``hook_params``: the transport arguments of :class:`SnapCapiHook`."""


DEFAULT_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds of a request, unless ``timeout`` says otherwise."""
DEPRECATED_HOOK_ARGS = {"api_version": "api_version", "request_timeout": "timeout", "debug": "debug"}
"""Flat transport arguments of earlier releases (of the sensor and the logs operator) -> their ``hook_params`` key."""


def merge_hook_params(owner: str, hook_params: Mapping[str, Any] | None, kwargs: dict[str, Any] | None = None,
                      deprecated: Mapping[str, str] = DEPRECATED_HOOK_ARGS) -> dict[str, Any]:
    """``hook_params`` checked (unknown keys raise ``ValueError``), with the flat arguments ``deprecated``
    (name -> ``hook_params`` key) popped from ``kwargs``, an operator's keyword arguments, and folded in:
    each warns that ``owner`` (a class name) takes it in ``hook_params`` now; a value already in
    ``hook_params`` wins, and ``None`` sets nothing."""
    merged = dict(hook_params or {})
    for name in [name for name in kwargs or () if name in deprecated]:
        value, key = kwargs.pop(name), deprecated[name]  # type: ignore[union-attr]
        warnings.warn(f"{owner}({name}=...) is deprecated; pass hook_params={{'{key}': ...}} instead.",
                      DeprecationWarning, stacklevel=3)
        if value is not None:
            merged.setdefault(key, value)
    unknown = sorted(set(merged) - set(HOOK_PARAMS))
    if unknown:
        raise ValueError(f"Unknown hook_params {unknown}; known: {list(HOOK_PARAMS)}.")
    check_hook_params(merged)
    return merged


def check_hook_params(params: Mapping[str, Any]) -> None:
    """Range checks of ``hook_params`` values (``ValueError`` naming the key), before any task runs."""
    timeout = params.get("timeout")
    pair = isinstance(timeout, tuple | list) and len(timeout) == 2
    if timeout is not None and not all(is_finite_number(t) and t > 0 for t in (timeout if pair else [timeout])):
        raise ValueError("hook_params timeout must be a positive number of seconds (or a (connect, read) pair of "
                         f"them), not {timeout!r}.")
    for name in ("retry_backoff_s", "retry_backoff_max_s"):
        value = params.get(name)
        if value is not None and (not is_finite_number(value) or value < 0):
            raise ValueError(f"hook_params {name} must be a number of seconds of at least 0, not {value!r}.")
    version = params.get("api_version")
    if version is not None and str(version).lower() not in API_VERSIONS:
        raise ValueError(f"hook_params api_version must be 'v3' or 'v2', not {version!r}.")
    for name in ("compress", "debug"):
        if params.get(name) is not None and not isinstance(params[name], bool):
            raise ValueError(f"hook_params {name} must be True or False, not {params[name]!r}.")
    retries = params.get("max_retries")
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
        raise ValueError(f"hook_params max_retries must be a whole number of at least 0, not {retries!r}.")
    concurrency = params.get("concurrency")
    if concurrency is not None and (not isinstance(concurrency, int) or isinstance(concurrency, bool)
                                    or not 1 <= concurrency <= 256):
        raise ValueError(f"hook_params concurrency must be a whole number between 1 and 256, not {concurrency!r}.")


def is_finite_number(value: object) -> bool:
    """A real, finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SnapCapiSettings:
    """What a ``snap_capi`` connection says (secrets, and credentials in the base URL, kept out of ``repr``).

    ``auth`` is ``"token"`` (a long-lived ``access_token``) or ``"oauth"`` (``client_id``,
    ``client_secret``, ``refresh_token`` and ``token_url``)."""

    access_token: str | None
    base_url: str
    pixel_id: str | None
    snap_app_id: str | None
    app_id: str | None
    api_version: str
    debug: bool
    auth: str = AUTH_TOKEN
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    token_url: str = DEFAULT_TOKEN_URL

    def __repr__(self) -> str:
        secrets = ("access_token='***'" if self.auth == AUTH_TOKEN else
                   f"client_id={self.client_id!r}, token_url={safe_url(self.token_url)!r}, "
                   "client_secret='***', refresh_token='***'")
        return (f"SnapCapiSettings(base_url={safe_url(self.base_url)!r}, pixel_id={self.pixel_id!r}, "
                f"snap_app_id={self.snap_app_id!r}, api_version={self.api_version!r}, auth={self.auth!r}, "
                f"{secrets})")

    @property
    def auth_description(self) -> str:
        """Which credentials are used, in words (never a secret)."""
        if self.auth == AUTH_OAUTH:
            return f"the OAuth refresh token of client {self.client_id}"
        return "the long-lived access token"


class SnapCapiHook(BaseHook):
    """Interact with Snap's Conversions API.

    Connection: password = long-lived access token, *or* the OAuth extras ``client_id``,
    ``client_secret``, ``refresh_token`` and ``token_url`` (default Snap's); host = base URL (default
    ``https://tr.snapchat.com``, any https Launch Pad URL, or plain http to a loopback host such as the
    local emulator); extras ``pixel_id``, ``snap_app_id``, ``app_id`` (v2 app events), ``api_version``
    (``v3`` or ``v2``), ``debug``.

    .. seealso::
        How to create the connection: :ref:`howto/connection:snap_capi`

    :param snap_capi_conn_id: The ``snap_capi`` connection id.
    :param api_version: Overrides the connection's ``api_version``.
    :param timeout: (connect, read) timeout in seconds for one HTTP request.
    :param max_retries: Retries of a request on 429, 5xx, timeouts and dropped connections.
    :param retry_backoff_s: First wait between retries, in seconds (doubled each retry, with jitter;
        a ``Retry-After`` answer wins).
    :param retry_backoff_max_s: Longest wait between retries, in seconds.
    :param concurrency: Requests in flight at once (pooled connections of the HTTP session).
    :param compress: Gzip request bodies (``Content-Encoding: gzip``).
    :param debug: Log every request's method, path, status, event count, timing and response body.
    """

    conn_name_attr = "snap_capi_conn_id"
    default_conn_name = "snap_capi_default"
    conn_type = "snap_capi"
    hook_name = "Snap Conversions API"

    def __init__(self, snap_capi_conn_id: str = default_conn_name, *, api_version: str | None = None,
                 timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT, max_retries: int = 5,
                 retry_backoff_s: float = 0.5, retry_backoff_max_s: float = 30.0, concurrency: int = 4,
                 compress: bool = False, debug: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_hook_params({"api_version": api_version, "timeout": timeout, "max_retries": max_retries,
                           "retry_backoff_s": retry_backoff_s, "retry_backoff_max_s": retry_backoff_max_s,
                           "concurrency": concurrency, "compress": compress, "debug": debug})
        self.snap_capi_conn_id = snap_capi_conn_id
        self.api_version = api_version
        # A list is a (connect, read) pair that went through JSON (a trigger's serialized hook_params).
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        self.timeout = (tuple(timeout) if isinstance(timeout, (tuple, list))  # type: ignore[assignment]
                        else (min(float(timeout), 10.0), float(timeout)))
        self.retry = RetryPolicy(max_retries=max_retries, backoff_initial_s=retry_backoff_s,
                                 backoff_max_s=retry_backoff_max_s)
        self.concurrency = concurrency
        self.compress = compress
        self.debug = debug

    @cached_property
    def settings(self) -> SnapCapiSettings:
        """The connection, read and checked once (a clear :class:`SnapCapiError` names what is wrong)."""
        conn = self.get_connection(self.snap_capi_conn_id)
        return read_settings(conn, self.snap_capi_conn_id, api_version=self.api_version, debug=self.debug)

    @cached_property
    def token_provider(self) -> TokenProvider:
        """One token provider for the hook's lifetime: every client (and thread) of a run shares it."""
        settings = self.settings
        if settings.auth == AUTH_OAUTH:
            return OAuthTokenProvider(
                settings.client_id or "", settings.client_secret or "", settings.refresh_token or "",
                settings.token_url, timeout=self.timeout, on_secret=mask_secret)
        return StaticToken(settings.access_token or "", on_secret=mask_secret)

    def _client_args(self) -> dict[str, Any]:
        """What the sync and the async client share: token provider, URL, version, timeout, retries, debug."""
        settings = self.settings
        return {"token_provider": self.token_provider, "base_url": settings.base_url,
                "api_version": settings.api_version, "timeout": self.timeout, "retry": self.retry,
                "debug": settings.debug}

    def get_conn(self) -> SnapCapiClient:
        """A new client (one pooled HTTP session); close it when done."""
        return SnapCapiClient(**self._client_args(), pool_size=max(self.concurrency, 1), compress=self.compress)

    def get_async_conn(self) -> AsyncSnapCapiClient:
        """A new async client sharing this hook's token provider; use it with ``async with``."""
        return AsyncSnapCapiClient(**self._client_args())

    def assets(self, pixel_id: str | None = None, snap_app_id: str | None = None) -> Assets:
        settings = self.settings
        return Assets(pixel_id=pixel_id or settings.pixel_id, snap_app_id=snap_app_id or settings.snap_app_id,
                      app_id=settings.app_id)

    def _targets(self, pixel_id: str | None, snap_app_id: str | None,
                 delivery: DeliveryOptions | None) -> tuple[Assets, DeliveryOptions]:
        assets = self.assets(pixel_id, snap_app_id)
        if not (assets.pixel_id or assets.snap_app_id):
            raise SnapCapiError("No pixel_id or snap_app_id: set one on the connection or the operator.")
        return assets, delivery or DeliveryOptions(concurrency=self.concurrency)

    def send_events(
        self,
        data: pd.DataFrame | Iterable[Mapping[str, Any]] | Iterable[pd.DataFrame],
        *,
        field_mapping: Mapping[str, str] | None = None,
        event_options: EventOptions | None = None,
        delivery: DeliveryOptions | None = None,
        pixel_id: str | None = None,
        snap_app_id: str | None = None,
        sink: RowSink | None = None,
        sink_columns: tuple[str, ...] = (),
        chunk_rows: int = 20_000,
        **run_options: Any,
    ) -> SendReport:
        """Normalize, hash, validate and send rows; returns the report of what happened to each row.

        ``data`` is rows or an iterable of DataFrame chunks (the streaming sources yield those);
        ``run_options`` go to :func:`~snap_capi_provider.core.pipeline.send_rows` (``shard``,
        ``total_rows``, ``stop``)."""
        return self._run_rows(send_rows, data, field_mapping=field_mapping, event_options=event_options,
                              delivery=delivery, pixel_id=pixel_id, snap_app_id=snap_app_id, sink=sink,
                              sink_columns=sink_columns, chunk_rows=chunk_rows, **run_options)

    def _run_rows(self, run: Any, data: Any, *, pixel_id: str | None = None, snap_app_id: str | None = None,
                  delivery: DeliveryOptions | None = None, chunk_rows: int = 20_000, **options: Any) -> Any:
        """``run`` (:func:`send_rows` or :func:`validate_rows`) over ``data`` with a client of this hook."""
        assets, delivery = self._targets(pixel_id, snap_app_id, delivery)
        with self.get_conn() as client:
            return run(client, iter_chunks(data, chunk_rows), assets=assets, delivery=delivery, **options)

    def test_connection(self) -> tuple[bool, str]:
        """Read the test-event stats of the configured asset: checks URL, token and access, sends nothing."""
        try:
            settings = self.settings
            asset_id = self.asset_id()
            # one quick attempt: the UI waits for this answer, and an unreachable host should say so at once
            probe = {**self._client_args(), "retry": RetryPolicy(max_retries=0),
                     "timeout": (min(self.timeout[0], 5.0), min(self.timeout[1], 10.0))}
            with SnapCapiClient(**probe, pool_size=1) as client:
                path, params = client.stats_path(asset_id)
                response = client.get_json(path, params)
        except Exception as exc:  # the UI shows the message; our errors never carry the token
            return False, str(exc)
        if response.ok:
            return True, (f"Connected to Snap CAPI {settings.api_version} for asset {asset_id} with "
                          f"{settings.auth_description}.")
        return False, (f"Snap CAPI answered HTTP {response.status_code} (with {settings.auth_description}): "
                       f"{response.text[:200]}")

    # ------------------------------------------------------------------------ test before going live

    def asset_id(self, asset_id: str | None = None) -> str:
        """``asset_id``, else the connection's pixel id, else its Snap app id."""
        settings = self.settings
        chosen = asset_text("asset_id", asset_id) or settings.pixel_id or settings.snap_app_id
        if not chosen:
            raise SnapCapiError("No asset id: pass asset_id, or set pixel_id or snap_app_id on the "
                                "connection.")
        return str(chosen)

    def validate_events(
        self,
        data: pd.DataFrame | Iterable[Mapping[str, Any]] | Iterable[pd.DataFrame],
        *,
        sample_size: int | None = None,
        **options: Any,
    ) -> ValidationReport:
        """Prepare rows exactly as :meth:`send_events` does and post them to the validate endpoint
        (test events: nothing is recorded as live). ``sample_size`` validates only the first rows;
        ``options`` are the keyword arguments of :meth:`send_events`."""
        return self._run_rows(validate_rows, data, sample_size=sample_size, **options)

    def get_test_event_stats(self, asset_id: str | None = None) -> TestEventStats:
        """Test and live event counts of the past hour for an asset (default: the connection's).

        Raises :class:`SnapCapiError` when Snap refuses the request, ``ValueError`` when the answer
        is not stats."""
        return self._read(asset_id, "stats_path", TestEventStats.parse, "test-event stats")

    async def a_get_test_event_stats(self, asset_id: str | None = None) -> TestEventStats:
        """:meth:`get_test_event_stats` for triggers: the connection is read in a worker thread, the
        request made with the async client (same URL, auth, token provider, redaction and retries).

        Raises :class:`SnapCapiError` (a subclass for a refused token or exhausted retries) or
        ``ValueError`` when the answer is not stats."""
        from asgiref.sync import sync_to_async

        asset = await sync_to_async(self.asset_id)(asset_id)  # reads the connection (sync API)
        async with self.get_async_conn() as client:
            response = await client.get_json(*client.stats_path(asset))
        return TestEventStats.parse(_checked(response, "test-event stats"), asset)

    def get_test_event_logs(self, asset_id: str | None = None) -> TestEventLogs:
        """Test events of the past 24 hours with Snap's verdicts, for an asset (default: the connection's).

        Raises :class:`SnapCapiError` when Snap refuses the request, ``ValueError`` when the answer
        is not logs."""
        return self._read(asset_id, "logs_path", TestEventLogs.parse, "test-event logs")

    def _read(self, asset_id: str | None, path_of: str, parse: Any, what: str) -> Any:
        """GET the endpoint ``client.<path_of>(asset)`` gives and ``parse`` its checked body."""
        asset = self.asset_id(asset_id)
        with self.get_conn() as client:
            response = client.get_json(*getattr(client, path_of)(asset))
        return parse(_checked(response, what), asset)


def _checked(response: ApiResponse, what: str) -> Any:
    """The body of a 2xx answer; else a :class:`SnapCapiError` with Snap's reason (never the token)."""
    body = response.body
    if not response.ok:
        reason = body.get("reason") if isinstance(body, dict) else response.text[:200]
        raise SnapCapiError(f"Snap CAPI answered HTTP {response.status_code} to the {what} request: {reason}")
    return body


def _with_port(host: str, port: int | None) -> str:
    """The base URL with the connection's port put into its network location (a Launch Pad URL may
    carry a path prefix, which stays after the port)."""
    if not port:
        return host
    parts = urlsplit(host if "://" in host else "https://" + host)
    if parts.port is not None or not parts.hostname:
        return host
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def read_settings(conn: Any, conn_id: str, *, api_version: str | None = None,
                  debug: bool | None = None) -> SnapCapiSettings:
    """A ``snap_capi`` connection as :class:`SnapCapiSettings`: the kind of credentials decided, every
    value type-checked; a :class:`SnapCapiError` names what is wrong (never a secret's value)."""
    schema = str(getattr(conn, "schema", None) or "")
    if not getattr(conn, "conn_type", None) and not conn.host and "//" in schema:
        mask_secret(schema)  # the whole URI, token included, landed in the schema
        raise SnapCapiError(f"Connection {conn_id!r} is a URI Airflow could not read: a URI scheme cannot hold "
                            "'_', so write it snap-capi://:TOKEN@tr.snapchat.com/?pixel_id=... (with a hyphen), "
                            "or use the JSON form.")
    raw = conn.extra_dejson if conn.extra else {}
    if raw == {} and conn.extra and str(conn.extra).strip() != "{}":  # Airflow logs text that is not JSON, gives {}
        try:
            json.loads(conn.extra)
        except ValueError:
            raise SnapCapiError(f"Connection {conn_id!r}: extra is not valid JSON; it must be a JSON object such "
                                'as {"pixel_id": "..."}.') from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SnapCapiError(f"Connection {conn_id!r}: extra must be a JSON object such as "
                            f'{{"pixel_id": "..."}}, not a JSON {_json_type(raw)}.')
    extra = {(k[len("extra__snap_capi__"):] if str(k).startswith("extra__snap_capi__") else str(k)): v
             for k, v in raw.items()}
    unknown = sorted(set(extra) - _KNOWN_EXTRAS)
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(_KNOWN_EXTRAS), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        log.warning("Connection %r: unknown extra %r%s is ignored; known extras: %s.", conn_id, key, hint,
                    ", ".join(CONN_EXTRA_FIELDS))  # a log line, in the task log every run (not a once-only warning)

    def option(name: str) -> Any:
        value = extra.get(name)
        if value in ("", None):
            return None
        if name in _TEXT_EXTRAS and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise SnapCapiError(f"Connection {conn_id!r}: extra {name!r} must be text, not a JSON "
                                f"{_json_type(value)}.")
        return value

    extra_token = option("access_token")
    if conn.password and extra_token is not None and str(extra_token) != conn.password:
        raise SnapCapiError(f"Connection {conn_id!r} has two different access tokens, in its password and in "
                            "its access_token extra: keep one.")
    token = conn.password or extra_token
    oauth = {name: option(name) for name in OAUTH_FIELDS}
    given = [name for name, value in oauth.items() if value is not None]
    if token and given:
        raise SnapCapiError(f"Connection {conn_id!r} has both a long-lived access token (password) and OAuth "
                            f"extras ({', '.join(given)}): keep one kind of credentials.")
    if given and len(given) < len(OAUTH_FIELDS):
        missing = [name for name in OAUTH_FIELDS if oauth[name] is None]
        raise SnapCapiError(f"Connection {conn_id!r} has an incomplete OAuth set: {', '.join(missing)} "
                            f"missing (OAuth needs {', '.join(OAUTH_FIELDS)}).")
    if not token and not given:
        raise SnapCapiError(f"Connection {conn_id!r} has no credentials: set its password to a long-lived "
                            "access token, or the OAuth extras client_id, client_secret and refresh_token.")
    labels = {"client_id": "OAuth client_id", "client_secret": "OAuth client_secret",
              "refresh_token": "OAuth refresh_token"}
    if token:
        token = check_secret_text(str(token), f"access token of connection {conn_id!r}")
        mask_secret(token)
    else:
        for name in OAUTH_FIELDS:
            oauth[name] = check_secret_text(str(oauth[name]), f"{labels[name]} of connection {conn_id!r}")
            if name != "client_id":
                mask_secret(oauth[name])
    token_url = check_https_or_loopback(str(option("token_url") or DEFAULT_TOKEN_URL), "token URL")
    host = _with_port(conn.host or DEFAULT_BASE_URL, conn.port)
    version = str(api_version or option("api_version") or "v3").lower()
    if version not in API_VERSIONS:
        raise SnapCapiError(f"Connection {conn_id!r}: api_version must be 'v3' or 'v2', not {version!r}.")
    if debug is None:
        flag = extra.get("debug")
        debug = _FLAGS.get(str(flag).strip().lower()) if isinstance(flag, str | int | None) else None
        if debug is None:
            shown = repr(flag)[:30] if isinstance(flag, str) else f"a JSON {_json_type(flag)}"
            raise SnapCapiError(f"Connection {conn_id!r}: extra 'debug' must be true or false, not {shown}.")
    return SnapCapiSettings(
        access_token=token or None,
        base_url=host,
        pixel_id=_text(option("pixel_id")),
        snap_app_id=_text(option("snap_app_id")),
        app_id=_text(option("app_id")),
        api_version=version,
        debug=debug,
        auth=AUTH_TOKEN if token else AUTH_OAUTH,
        client_id=oauth["client_id"],
        client_secret=oauth["client_secret"],
        refresh_token=oauth["refresh_token"],
        token_url=token_url,
    )


def _json_type(value: Any) -> str:
    return {list: "list", dict: "object", bool: "boolean", float: "number", int: "number", str: "string"}.get(
        type(value), type(value).__name__)
