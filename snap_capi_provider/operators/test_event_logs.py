"""Read Snap's test-event logs (past 24 hours) and put a PII-free summary in XCom."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from snap_capi_provider.core.testing_api import MAX_MESSAGES
from snap_capi_provider.hooks.snap_capi import SnapCapiHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiTestEventLogsOperator(BaseOperator):
    """Fetch the test-event logs of an asset and return a summary: ``events``, counts ``by_status``,
    ``by_event_name`` and ``by_action_source``, and how often each ``errors`` and ``warnings``
    message occurred. Snap's logs carry no user data; messages are scrubbed of anything that looks
    like an e-mail address, phone number or IP address all the same.

    :param snap_capi_conn_id: The ``snap_capi`` connection.
    :param asset_id: Pixel id or Snap app id (default: the connection's pixel id, else its app id). Templated.
    :param fail_on_invalid: Fail the task (the summary still reaches XCom) when a logged event is INVALID.
    :param max_messages: Distinct error and warning messages kept (the rest are counted as ``other``).
    :param api_version: ``v3`` or ``v2``; overrides the connection.
    :param debug: Log the request (token and PII redacted); overrides the connection's ``debug`` extra.
    """

    template_fields: Sequence[str] = ("asset_id",)
    ui_color = "#FFFC00"

    def __init__(self, *, snap_capi_conn_id: str = SnapCapiHook.default_conn_name,
                 asset_id: str | None = None, fail_on_invalid: bool = False, max_messages: int = MAX_MESSAGES,
                 api_version: str | None = None, request_timeout: float = 30.0, debug: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snap_capi_conn_id = snap_capi_conn_id
        self.asset_id = asset_id
        self.fail_on_invalid = fail_on_invalid
        self.max_messages = max_messages
        self.api_version = api_version
        self.request_timeout = request_timeout
        self.debug = debug

    @cached_property
    def hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, api_version=self.api_version,
                            timeout=self.request_timeout, debug=self.debug)

    def execute(self, context: Context) -> dict[str, Any]:
        summary = self.hook.get_test_event_logs(self.asset_id or None).summary(self.max_messages)
        self.log.info("Snap CAPI test-event logs of asset %s: %d events, by status %s, errors %s",
                      summary["asset_id"], summary["events"], summary["by_status"], summary["errors"])
        invalid = summary["by_status"].get("INVALID", 0)
        if invalid and self.fail_on_invalid:
            context["ti"].xcom_push(key="return_value", value=summary)
            raise AirflowException(f"{invalid} of {summary['events']} logged test events are INVALID: "
                                   f"{summary['errors']}.")
        return summary
