"""A "Data Docs" entry in the Airflow UI's Browse menu, linking the validation reports site.

The import DAG writes the Data Docs as static pages beside the landing root (local, S3 or SFTP:
`settings.data_docs_url()`); the operator page, mounted in Airflow's own API server, serves them
from there behind Airflow's sign-in, so the link is a path on the same server. Where the site is
served elsewhere, COURSE_RECORD_DATA_DOCS_LINK gives the address browsers use instead; it is read
when the API server loads its plugins (restart it after changing the variable).
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

DATA_DOCS_LINK_ENV = "COURSE_RECORD_DATA_DOCS_LINK"
DEFAULT_DATA_DOCS_LINK = "/course-records/data-docs/index.html"  # the operator page's route to the site


def data_docs_link() -> str:
    """Where the Data Docs site is reached from a browser."""
    return os.environ.get(DATA_DOCS_LINK_ENV) or DEFAULT_DATA_DOCS_LINK


class DataDocsLinkPlugin(AirflowPlugin):
    """Adds the link; no url_route, so the UI opens the site itself rather than framing it."""

    name = "course_record_data_docs"
    external_views = [  # noqa: RUF012 - AirflowPlugin declares these as class attributes
        {
            "name": "Data Docs",
            "href": data_docs_link(),
            "destination": "nav",
            "category": "browse",  # the UI's Browse menu, beside DAG runs and task instances
        },
    ]
