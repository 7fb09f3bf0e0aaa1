"""The operator's page in the Airflow UI: the import lock, the files waiting in landing, the
recent batches with their reports and Data Docs, and the file-format rules.

- `fastapi_apps`: the page itself, a FastAPI app mounted in the API server at /course-records/
  (include/course_records/ops_app.py). Every route needs an Airflow sign-in and the right to
  read the import DAG's runs.
- `external_views`: "Course imports" in the navigation shows the page inside the UI. The app also
  serves the Data Docs site from wherever the pipeline publishes it (/course-records/data-docs/,
  which Browse → Data Docs opens: plugins/data_docs_link.py), so it needs no server of its own.
- `fastapi_root_middlewares`: manual import runs get a run id naming their file, and an unlock
  is not started without confirm ticked and a reason (include/course_records/triggers.py).

Restart the API server after changing this file.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.course_records import settings
from include.course_records.ops_app import create_app
from include.course_records.triggers import TriggerRequests

PREFIX = settings.OPS_URL_PREFIX.strip("/")


class CourseRecordOperationsPlugin(AirflowPlugin):
    name = "course_record_operations"
    fastapi_apps = [  # noqa: RUF012 - AirflowPlugin declares these as class attributes
        {"app": create_app(), "url_prefix": settings.OPS_URL_PREFIX, "name": "Course record imports"},
    ]
    fastapi_root_middlewares = [  # noqa: RUF012
        {"middleware": TriggerRequests, "name": "Course record trigger requests"},
    ]
    external_views = [  # noqa: RUF012
        # href is relative to the UI's base URL; url_route makes the UI show it in a frame
        {"name": "Course imports", "href": f"{PREFIX}/", "url_route": "course-imports",
         "destination": "nav", "nav_top_level": True},
    ]
