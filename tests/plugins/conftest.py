"""Fixtures for the plugin tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def dags_in_db(dagbag):
    """The DAGs in Airflow's metadata database, as the DAG processor would put them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag, "dags-folder", None)
