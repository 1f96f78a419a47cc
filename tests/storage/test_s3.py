"""S3Storage beyond the shared suite: URLs, the environment, buckets, errors, paging."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import s3server

from backuprun.storage import NotFound, StorageError, open_storage
from backuprun.storage.base import TransientError
from backuprun.storage.retry import RetryingStorage
from backuprun.storage.s3 import S3Storage, make_client

NO_CLIENT = object()  # enough for tests that never reach the server


@pytest.mark.parametrize(("url", "bucket", "prefix", "normal"), [
    ("s3://safe", "safe", "", "s3://safe"),
    ("s3://safe/", "safe", "", "s3://safe"),
    ("s3://safe/customers/42", "safe", "customers/42", "s3://safe/customers/42"),
    ("s3://safe/customers/42/", "safe", "customers/42", "s3://safe/customers/42"),
])
def test_from_url(url: str, bucket: str, prefix: str, normal: str) -> None:
    storage = S3Storage.from_url(url, client=NO_CLIENT)
    assert (storage.bucket, storage.prefix, storage.url) == (bucket, prefix, normal)


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "http://bucket/x", "s3://b/p?x=1"])
def test_from_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError):
        S3Storage.from_url(url, client=NO_CLIENT)



@pytest.mark.s3
def test_open_storage_reads_the_environment(s3_location, s3_server) -> None:
    storage = open_storage(s3_location.url)
    assert isinstance(storage, RetryingStorage)
    assert storage.url == s3_location.url
    storage.save("config", b"cfg")
    prefix = s3_location.url.split("/", 3)[3]
    listed = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix + "/")
    assert [o["Key"] for o in listed["Contents"]] == [f"{prefix}/config"]
    assert open_storage(s3_location.url).load("config") == b"cfg"


@pytest.mark.s3
def test_env_reaches_a_subprocess(s3_location) -> None:
    code = ("import sys; from backuprun.storage import open_storage; "
            "open_storage(sys.argv[1]).save('from-child', b'hi')")
    subprocess.run([sys.executable, "-c", code, s3_location.url], env=s3_location.env,
                   check=True, timeout=60)
    assert open_storage(s3_location.url).load("from-child") == b"hi"


@pytest.mark.s3
def test_prefixes_do_not_overlap(s3_server) -> None:
    run = uuid.uuid4().hex[:8]
    short = S3Storage(s3_server.bucket, f"p{run}-1", client=s3_server.client)
    longer = S3Storage(s3_server.bucket, f"p{run}-10", client=s3_server.client)
    longer.save("config", b"10")
    assert list(short.list()) == []
    assert not short.exists("config")


@pytest.mark.s3
def test_missing_bucket_reads_empty_and_first_save_creates_it(s3_server) -> None:
    storage = S3Storage(f"auto-{uuid.uuid4().hex[:12]}", "safe", client=s3_server.client)
    assert list(storage.list()) == []
    assert not storage.exists("config")
    with pytest.raises(NotFound):
        storage.load("config")
    with pytest.raises(NotFound):
        storage.remove("config")
    with ThreadPoolExecutor(4) as pool:  # several threads meet the missing bucket at once
        list(pool.map(lambda i: storage.save(f"n{i}", b"x"), range(4)))
    assert sorted(storage.list()) == ["n0", "n1", "n2", "n3"]


@pytest.mark.s3
def test_first_save_creates_the_bucket_in_another_region(s3_server) -> None:
    client = make_client(endpoint_url=s3_server.endpoint, aws_access_key_id=s3server.ACCESS_KEY,
                         aws_secret_access_key=s3server.SECRET_KEY,
                         region_name="eu-central-1")
    storage = S3Storage(f"auto-{uuid.uuid4().hex[:12]}", client=client)
    storage.save("config", b"c")
    assert storage.load("config") == b"c"


@pytest.mark.s3
def test_listing_past_one_thousand_at_the_default_page_size(s3_server) -> None:
    storage = S3Storage(s3_server.bucket, f"many-{uuid.uuid4().hex[:8]}",
                        client=s3_server.client)
    names = [f"data/{i:05d}" for i in range(1003)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: storage.save(n, b"", overwrite=True), names))
    assert sorted(storage.list()) == names


@pytest.mark.s3
def test_wrong_secret_is_a_storage_error_not_a_missing_blob(s3_server) -> None:
    client = make_client(endpoint_url=s3_server.endpoint, aws_access_key_id=s3server.ACCESS_KEY,
                         aws_secret_access_key="wrong", region_name="us-east-1")
    storage = S3Storage(s3_server.bucket, "denied", client=client)
    with pytest.raises(StorageError) as caught:
        storage.save("config", b"x")
    assert not isinstance(caught.value, (NotFound, TransientError))
    with pytest.raises(StorageError) as caught:
        storage.load("config")
    assert not isinstance(caught.value, (NotFound, TransientError))


def test_unreachable_endpoint_is_transient(unused_port: int) -> None:
    client = make_client(endpoint_url=f"http://127.0.0.1:{unused_port}",
                         aws_access_key_id="k", aws_secret_access_key="s",
                         region_name="us-east-1")
    storage = S3Storage("bucket", client=client)
    with pytest.raises(TransientError):
        storage.save("config", b"x")
    with pytest.raises(TransientError):
        list(storage.list())


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
