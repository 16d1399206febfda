from collections.abc import Iterator

import pytest

from support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the session; each test makes its own database."""
    with PostgresCluster() as cluster:
        yield cluster
