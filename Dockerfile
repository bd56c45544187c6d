# ripple on the official Apache Airflow 3 image: the pipeline package, its SQL models and the two DAGs.
# Built by `docker compose up` (docs/deploy.md); on its own: docker build -t ripple-airflow .
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

# an ARG declared before FROM is not visible after it
ARG AIRFLOW_VERSION

ENV RIPPLE_DATA_DIR=/opt/ripple-data \
    RIPPLE_SQL_DIR=/opt/ripple/sql

USER root
# a new named volume mounted on /opt/ripple-data takes this ownership (uid airflow, group 0 like the image)
RUN mkdir -p /opt/ripple /opt/ripple-data \
    && chown -R airflow:0 /opt/ripple /opt/ripple-data \
    && chmod -R g+rwX /opt/ripple-data
USER airflow

# Dependencies first, so that this layer is rebuilt only when pyproject.toml changes. Pinning apache-airflow to
# the image's version keeps pip from up- or downgrading Airflow while it resolves ripple's dependencies.
COPY --chown=airflow:0 pyproject.toml /opt/ripple/
RUN mkdir -p /opt/ripple/pipeline \
    && touch /opt/ripple/pipeline/__init__.py \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -e /opt/ripple

# The code. An editable install reads the package from /opt/ripple, next to the sql/ models it builds.
COPY --chown=airflow:0 pipeline /opt/ripple/pipeline
COPY --chown=airflow:0 sql /opt/ripple/sql
COPY --chown=airflow:0 dags /opt/airflow/dags
RUN python -c "import pipeline.cli, pipeline.run, pipeline.warehouse" && ripple --help > /dev/null

WORKDIR /opt/airflow
