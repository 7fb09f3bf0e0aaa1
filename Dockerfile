# The Airflow image that docker-compose.yaml runs: Airflow 3.3.2 on Python 3.11, the project's
# locked requirements, and its code. Build it with `docker compose build`.
FROM apache/airflow:3.3.2-python3.11

# Dependencies first, so this layer is rebuilt only when the lock changes. The lock pins
# apache-airflow==3.3.2, the image's own version, so pip never swaps Airflow underneath it.
COPY --chown=airflow:0 requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

# The repository's layout under AIRFLOW_HOME (/opt/airflow): include/course_records/settings.py
# finds expectations/ beside include/, and `python -m include.course_records` runs from here.
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 expectations/ /opt/airflow/expectations/
COPY --chown=airflow:0 config/ /opt/airflow/config/
COPY --chown=airflow:0 docs/ /opt/airflow/docs/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
ENV PYTHONPATH=/opt/airflow
