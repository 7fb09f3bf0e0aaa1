"""A "Data Docs" entry in the Airflow UI's Browse menu, linking the validation reports site.

The import DAG builds the Great Expectations Data Docs as static HTML (COURSE_RECORD_DATA_DOCS_DIR);
a web server of its own serves them (the `data-docs` service in docker-compose.yaml). The link is
where users' browsers reach that server: COURSE_RECORD_DATA_DOCS_URL, read when the API server
loads its plugins (restart it after changing the variable).
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

DATA_DOCS_URL_ENV = "COURSE_RECORD_DATA_DOCS_URL"
DEFAULT_DATA_DOCS_URL = "http://localhost:8081/"


def data_docs_url() -> str:
    """Where the Data Docs site is reached from a browser."""
    return os.environ.get(DATA_DOCS_URL_ENV) or DEFAULT_DATA_DOCS_URL


class DataDocsLinkPlugin(AirflowPlugin):
    """Adds the link; no url_route, so the UI opens the site itself rather than framing it."""

    name = "course_record_data_docs"
    external_views = [  # noqa: RUF012 - AirflowPlugin declares these as class attributes
        {
            "name": "Data Docs",
            "href": data_docs_url(),
            "destination": "nav",
            "category": "browse",  # the UI's Browse menu, beside DAG runs and task instances
        },
    ]
