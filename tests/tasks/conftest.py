"""Engines for the task queue's tests: a ledger database (SQLite file, or a fresh PostgreSQL
schema) and a queue URL (a SQLite file, or Redis with a name of its own, flushed after)."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_URL = os.environ.get("BACKUPRUN_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("BACKUPRUN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg():
    import psycopg

    return psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


@pytest.fixture
def sqlite_db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def postgres_db():
    if not POSTGRES_URL:
        pytest.skip("BACKUPRUN_TEST_POSTGRES_URL is not set")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _pg() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
    with _pg() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def redis_queue():
    """A Redis queue URL and a huey name nobody else uses; its keys are removed after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield REDIS_URL, name
    for key in client.scan_iter(f"huey*{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_db")
