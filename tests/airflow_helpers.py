"""Run a DAG built inside a test with ``dag.test()`` against the real metadata database."""

from __future__ import annotations

import os
from typing import Any


def run_dag(dag: Any, **kwargs: Any) -> Any:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**kwargs)


def task_state(dag_run: Any, task_id: str) -> str:
    return str(dag_run.get_task_instance(task_id).state)


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)
