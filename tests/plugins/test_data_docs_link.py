"""The Data Docs link plugin loads in Airflow's plugin manager and passes the API's schema for the UI."""

from __future__ import annotations

import importlib.util
import os

from tests.conftest import REPO

PLUGIN_FILE = REPO / "plugins" / "data_docs_link.py"


def test_plugin_loads_and_the_ui_gets_a_data_docs_nav_link():
    from airflow import plugins_manager
    from airflow.api_fastapi.core_api.datamodels.plugins import PluginResponse

    assert not [source for source in plugins_manager.get_import_errors() if PLUGIN_FILE.name in source]
    [info] = [p for p in plugins_manager.get_plugin_info() if p["name"] == "course_record_data_docs"]
    # what GET /api/v2/plugins does before the UI sees a plugin: an invalid one is dropped silently
    response = PluginResponse.model_validate(info)

    [view] = response.external_views
    assert (view.name, view.destination, view.category, view.url_route) == ("Data Docs", "nav", "browse", None)
    assert view.href == os.environ.get("COURSE_RECORD_DATA_DOCS_LINK", "/course-records/data-docs/index.html")


def test_the_link_follows_course_record_data_docs_link(monkeypatch):
    monkeypatch.setenv("COURSE_RECORD_DATA_DOCS_LINK", "https://docs.lms.example.org/data-docs/")
    spec = importlib.util.spec_from_file_location("data_docs_link_under_test", PLUGIN_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.DataDocsLinkPlugin.external_views[0]["href"] == "https://docs.lms.example.org/data-docs/"
