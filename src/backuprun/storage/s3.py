"""S3-compatible object storage: one object per blob under ``s3://bucket/prefix``.

Endpoint, credentials and region come from boto3's standard environment variables
(``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``) or its usual config files.

How each rule of :mod:`backuprun.storage` is kept:
- ``save`` is one PUT, which S3 applies atomically. A blob is held in memory anyway, so
  there is no multipart upload; a single PUT takes up to 5 GiB, far above a pack.
- ``save`` without ``overwrite`` is a conditional PUT (``If-None-Match: *``): the server
  refuses it with 412 if the key exists, so exactly one of many racing writers wins.
- ``load`` with an offset or length is a ranged GET.
- ``remove`` of a missing blob is checked with a HEAD first (S3's DELETE never says).
- A missing bucket reads as an empty one; the first ``save`` creates it.

One boto3 client is shared by all threads (clients are thread-safe). Errors become
``NotFound``, ``AlreadyExists`` or ``StorageError``; failures that may pass on retry
(network, throttling, 5xx) become ``TransientError``. botocore's own retries are turned
off: a blind retry of a conditional PUT whose first try did land reports ``AlreadyExists``
for our own blob, so retries live in :class:`backuprun.storage.retry.RetryingStorage`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backuprun.storage.base import AlreadyExists, NotFound, StorageError, TransientError
from backuprun.storage.base import check_name, could_prefix_a_name

_MAX_PUT = 5 * 1024**3
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
              "InternalError", "ServiceUnavailable", "ConditionalRequestConflict"}
_TRANSIENT_BOTO = (boto_errors.ConnectionError, boto_errors.HTTPClientError,
                   boto_errors.IncompleteReadError, boto_errors.FlexibleChecksumError)


def make_client(**kwargs: Any) -> Any:
    """A boto3 S3 client configured from the environment, for use from many threads.

    Path-style addressing is used when a custom endpoint is set: S3-compatible servers
    (SeaweedFS, MinIO, Ceph) take it without wildcard DNS.
    """
    session = boto3.session.Session()
    custom_endpoint = kwargs.get("endpoint_url") or os.environ.get(
        "AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        max_pool_connections=32,
        connect_timeout=10,
        read_timeout=120,
        retries={"total_max_attempts": 1},
        s3={"addressing_style": "path"} if custom_endpoint else {},
    )
    return session.client("s3", config=config, **kwargs)


class S3Storage:
    """Blobs as objects named ``<prefix>/<name>`` in ``bucket``."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None,
                 page_size: int = 1000) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self._client = client if client is not None else make_client()
        self._page_size = page_size
        self._bucket_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3Storage:
        """Open ``s3://bucket[/prefix]``; keyword arguments go to the constructor."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
        return cls(parts.netloc, parts.path, **kwargs)

    def _key(self, name: str) -> str:
        return self._key_prefix + check_name(name)

    def save(self, name: str, data: bytes | memoryview, *, overwrite: bool = False) -> None:
        key = self._key(name)
        body = data if isinstance(data, bytes) else bytes(data)
        if len(body) > _MAX_PUT:
            raise StorageError(f"{name}: {len(body)} bytes is more than one PUT takes")
        extra = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            with _errors(name):
                self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        except NotFound:  # no bucket yet: the first save creates it
            self._create_bucket()
            with _errors(name):
                self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def _create_bucket(self) -> None:
        region = self._client.meta.region_name
        extra = {}
        if region and region not in ("us-east-1", "aws-global"):  # AWS wants it named
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._bucket_lock, _errors(self.bucket):
            try:
                self._client.create_bucket(Bucket=self.bucket, **extra)
            except ClientError as e:
                if _code(e) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        key = self._key(name)
        if length == 0:
            self.size(name)  # raises NotFound
            return b""
        extra = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            extra["Range"] = f"bytes={offset}-{end}"
        with _errors(name):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
            except ClientError as e:
                if _code(e) == "InvalidRange":
                    return b""  # the blob exists but ends before offset
                raise
            return response["Body"].read()

    def size(self, name: str) -> int:
        with _errors(name):
            response = self._client.head_object(Bucket=self.bucket, Key=self._key(name))
            return int(response["ContentLength"])

    def exists(self, name: str) -> bool:
        try:
            self.size(name)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        if not could_prefix_a_name(prefix):
            return
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._key_prefix + prefix,
                                   PaginationConfig={"PageSize": self._page_size})
        strip = len(self._key_prefix)
        try:
            with _errors(prefix or self.url):
                for page in pages:
                    for obj in page.get("Contents", ()):
                        yield obj["Key"][strip:]
        except NotFound:  # no bucket: nothing stored yet
            return

    def remove(self, name: str) -> None:
        self.size(name)  # raises NotFound: S3's DELETE succeeds on missing keys
        with _errors(name):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def prefetch(self, name: str, offset: int, length: int) -> None:
        pass  # ignored: each load is one ranged GET

    def sync(self) -> None:
        """Nothing to do: S3 acknowledges a PUT once it is durable."""


@contextmanager
def _errors(name: str) -> Iterator[None]:
    """Turn boto errors about ``name`` into storage errors."""
    try:
        yield
    except (ClientError, BotoCoreError) as e:
        raise _error(e, name) from e


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _error(error: ClientError | BotoCoreError, name: str) -> StorageError:
    """The storage error for a boto error about ``name``."""
    if isinstance(error, _TRANSIENT_BOTO):
        return TransientError(f"{name}: {error}")
    if isinstance(error, BotoCoreError):
        return StorageError(f"{name}: {error}")
    code, status = _code(error), _status(error)
    if code in _MISSING:
        return NotFound(name)
    if code == "PreconditionFailed" or status == 412:
        return AlreadyExists(name)
    if code in _TRANSIENT or status in (429, 500, 502, 503, 504):
        return TransientError(f"{name}: {code or status}: {error}")
    return StorageError(f"{name}: {code or status}: {error}")
