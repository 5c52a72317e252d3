"""One local SparkSession for every Spark test (1 core, small memory, 2 shuffle partitions).

CI installs Java 17 (scripts/test.sh), so these tests run there; on a machine without Java
they skip, saying so.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import DEMO


def _java_problem() -> str | None:
    java = shutil.which("java")
    if java is None:
        return (
            "needs Java 17 for PySpark (no `java` on PATH; apt-get install openjdk-17-jre-headless)"
        )
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"needs Java 17 for PySpark (`java -version` failed: {done.stderr.strip()[:200]})"
    return None


@pytest.fixture(scope="session")
def spark():
    problem = _java_problem()
    if problem:
        pytest.skip(problem)
    from churn_core.engine.spark import spark_session

    session = spark_session(cores=1, driver_memory="768m", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_retail(spark):
    """The bundled UCI retail log read by the Spark engine (cached on the session)."""
    from churn_core.engine.spark import read_events

    return read_events(spark, str(DEMO))
