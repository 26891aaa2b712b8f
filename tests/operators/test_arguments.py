"""Arguments are checked when the operator is built (a DAG file with ``chunk_rows=-1`` fails to import,
it does not silently send nothing); ``rejected_rows_columns`` given as one string is one column."""

from __future__ import annotations

import math

import pytest

from snap_capi_provider.emulator import Fault
from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator, SnapCapiValidateOperator

ROWS = [{"email": "a@example.com"}]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"chunk_rows": -1}, "chunk_rows"),
    ({"chunk_rows": 0}, "chunk_rows"),
    ({"chunk_rows": 1.5}, "chunk_rows"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2001}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"max_batch_bytes": 0}, "max_batch_bytes"),
    ({"prepare_processes": 0}, "prepare_processes"),
    ({"prepare_processes": 65}, "prepare_processes"),
    ({"prepare_processes": "all"}, "prepare_processes"),
    ({"shard_count": 0}, "shard_count"),
    ({"shard_index": 2, "shard_count": 2}, "shard_index"),
    ({"max_rejected_ratio": 1.5}, "max_rejected_ratio"),
    ({"max_rejected_ratio": -0.1}, "max_rejected_ratio"),
    ({"min_match_ready_ratio": 2}, "min_match_ready_ratio"),
    ({"min_match_ready_ratio": math.nan}, "min_match_ready_ratio"),
    ({"min_rows": -1}, "min_rows"),
    ({"max_requests_per_second": 0}, "max_requests_per_second"),
    ({"max_event_age_days": -1}, "max_event_age_days"),
    ({"max_future_skew_s": math.inf}, "max_future_skew_s"),
    ({"progress_interval_s": -5}, "progress_interval_s"),
    ({"hook_params": {"timeout": 0}}, "timeout"),
    ({"hook_params": {"timeout": -1}}, "timeout"),
    ({"hook_params": {"max_retries": -1}}, "max_retries"),
    ({"hook_params": {"concurrency": 0}}, "concurrency"),
    ({"hook_params": {"concurrency": 1000}}, "concurrency"),
    ({"hook_params": {"timout": 5}}, "Unknown hook_params"),
    ({"hook_params": {"timeout": math.nan}}, "timeout"),
    ({"hook_params": {"timeout": "30"}}, "timeout"),
    ({"hook_params": {"timeout": (0, 5)}}, "timeout"),
    ({"hook_params": {"timeout": (5, -1)}}, "timeout"),
    ({"hook_params": {"timeout": (1, 2, 3)}}, "timeout"),
    ({"hook_params": {"retry_backoff_s": -1}}, "retry_backoff_s"),
    ({"hook_params": {"retry_backoff_max_s": math.nan}}, "retry_backoff_max_s"),
    ({"hook_params": {"api_version": "v4"}}, "api_version"),
    ({"hook_params": {"compress": "yes"}}, "compress"),
    ({"hook_params": {"debug": "no"}}, "debug"),
    ({"fail_on_empty": "no"}, "fail_on_empty"),
    ({"dedupe_event_ids": 0}, "dedupe_event_ids"),
    ({"invalid_field_policy": "ignore"}, "invalid_field_policy"),
    ({"date_order": "YMD"}, "date_order"),
    ({"rejected_rows_columns": 5}, "rejected_rows_columns"),
    ({"rejected_rows_columns": ["order_id", 1]}, "rejected_rows_columns"),
    ({"event_id_columns": [""]}, "event_id_columns"),
])
@pytest.mark.parametrize("operator", [SnapCapiSendEventsOperator, SnapCapiValidateOperator])
def test_out_of_range_arguments_fail_at_construction(operator, kwargs, message):
    if operator is SnapCapiValidateOperator and "max_rejected_ratio" in kwargs:
        pytest.skip("the validate operator has no max_rejected_ratio")
    with pytest.raises(ValueError, match=message):
        operator(task_id="t", data=ROWS, **kwargs)


def test_prepare_processes_auto_takes_the_task_s_cores():
    from snap_capi_provider.core.prepare import usable_cpus

    operator = SnapCapiSendEventsOperator(task_id="t", data=ROWS, prepare_processes="auto")
    assert operator.delivery_options().prepare_processes == usable_cpus() >= 1


def test_sample_size_is_checked_too():
    with pytest.raises(ValueError, match="sample_size"):
        SnapCapiValidateOperator(task_id="t", data=ROWS, sample_size=0)


def test_rejected_rows_columns_as_one_string_is_one_column():
    op = SnapCapiSendEventsOperator(task_id="t", data=ROWS, rejected_rows_path="/tmp/x.csv",
                                    rejected_rows_columns="order_id")
    assert op.sink_columns == ("order_id",)


def test_event_id_columns_as_one_string_is_one_column_too():
    op = SnapCapiSendEventsOperator(task_id="t", data=ROWS, event_id_columns="order_id")
    assert op.event_options().event_id_columns == ("order_id",)  # not ('o', 'r', 'd', ...)
    op.event_id_columns = "order_id"  # as a template may render it
    assert op.event_options().event_id_columns == ("order_id",)


def test_in_range_arguments_are_accepted():
    SnapCapiSendEventsOperator(task_id="t", data=ROWS, chunk_rows=1, batch_size=2000, max_rejected_ratio=1,
                               hook_params={"timeout": 0.5, "max_retries": 0, "concurrency": 256})
    SnapCapiValidateOperator(task_id="t", data=ROWS, event_id_columns=("order_id", "line"), fail_on_empty=True,
                             hook_params={"timeout": (2, 30.0), "retry_backoff_s": 0, "api_version": "V2",
                                          "compress": True, "debug": None})


@pytest.mark.parametrize("spec", [
    {"kind": "delay", "delay_s": math.nan}, {"kind": "delay", "delay_s": -1}, {"kind": "delay", "delay_s": math.inf},
    {"kind": "429", "retry_after": "1\r\nX-Injected: 1"}, {"kind": "429", "retry_after": -1},
    {"kind": "bad_event_400", "event_index": -1}, {"kind": "418"}, {"kind": "503", "typo": 1},
])
def test_emulator_fault_specs_are_validated(spec):
    with pytest.raises(ValueError):
        Fault.from_dict(spec)


@pytest.mark.parametrize("operator", [SnapCapiSendEventsOperator, SnapCapiValidateOperator])
def test_date_order_reaches_the_event_options(operator):
    assert operator(task_id="t", data=ROWS).event_options().date_order == "MDY"
    assert operator(task_id="t", data=ROWS, date_order="DMY").event_options().date_order == "DMY"


@pytest.mark.parametrize(("kwargs", "message"), [({"max_messages": -1}, "max_messages"),
                                                 ({"max_messages": "x"}, "max_messages"),
                                                 ({"fail_on_invalid": "no"}, "fail_on_invalid")])
def test_the_logs_operator_checks_its_arguments_at_construction(kwargs, message):
    from snap_capi_provider.operators.snap_capi import SnapCapiTestEventLogsOperator

    with pytest.raises(ValueError, match=message):
        SnapCapiTestEventLogsOperator(task_id="t", **kwargs)


@pytest.mark.parametrize("count", [1.5, True, math.inf, "many"])
def test_the_stats_sensor_refuses_a_count_that_is_no_whole_number(count):
    from airflow.sdk.exceptions import AirflowException

    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    with pytest.raises(AirflowException, match="min_event_count|invalid literal"):
        SnapCapiTestEventStatsSensor(task_id="s", min_event_count=count)._condition()


@pytest.mark.parametrize("operator", [SnapCapiSendEventsOperator, SnapCapiValidateOperator])
def test_operators_are_deep_copyable(operator):
    """``copy.deepcopy`` and ``DAG.partial_subset`` copy operators: nothing holding a lock may live on one."""
    import copy

    import pendulum
    from airflow.sdk import DAG

    with DAG("copyable", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        operator(task_id="t", data=ROWS, field_mapping={"em": "email"}, event_name="PURCHASE")
    clone = copy.deepcopy(dag.get_task("t"))
    assert clone.task_id == "t" and clone.field_mapping == {"em": "email"}
    assert dag.partial_subset("t").task_ids == ["t"]
