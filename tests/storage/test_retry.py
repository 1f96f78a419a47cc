"""RetryingStorage: transient failures retried, and answers after a landed try read right."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backuprun.storage import AlreadyExists, NotFound, StorageError
from backuprun.storage.base import TransientError
from backuprun.storage.memory import MemoryStorage
from backuprun.storage.retry import RetryingStorage


class Flaky(MemoryStorage):
    """Fails the next ``failures`` calls; with ``land`` the failing save or remove happens."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.land = False
        self.calls = 0

    def _fail(self, action=None) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            if self.land and action is not None:
                action()
            raise TransientError("connection reset")

    def save(self, name, data, *, overwrite=False):
        self._fail(lambda: super(Flaky, self).save(name, data, overwrite=overwrite))
        super().save(name, data, overwrite=overwrite)

    def load(self, name, offset=0, length=None):
        self._fail()
        return super().load(name, offset, length)

    def remove(self, name):
        self._fail(lambda: super(Flaky, self).remove(name))
        super().remove(name)

    def list(self, prefix: str = "") -> Iterator[str]:
        names = sorted(super().list(prefix))
        yield names[0]
        self._fail()
        yield from names[1:]


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def retrying(flaky: Flaky) -> RetryingStorage:
    return RetryingStorage(flaky, attempts=4, sleep=lambda seconds: None)


def test_transient_failures_are_retried(flaky: Flaky, retrying: RetryingStorage) -> None:
    flaky.failures = 3
    retrying.save("a", b"1")
    assert flaky.calls == 4
    flaky.failures = 2
    assert retrying.load("a") == b"1"


def test_gives_up_after_the_last_attempt(flaky: Flaky, retrying: RetryingStorage) -> None:
    flaky.failures = 4
    with pytest.raises(TransientError):
        retrying.save("a", b"1")
    assert flaky.calls == 4


def test_other_errors_are_not_retried(flaky: Flaky, retrying: RetryingStorage) -> None:
    with pytest.raises(NotFound):
        retrying.load("missing")
    retrying.save("a", b"1")
    with pytest.raises(AlreadyExists):
        retrying.save("a", b"2")
    assert flaky.calls == 3


def test_exclusive_save_that_landed_before_failing_succeeds(flaky: Flaky,
                                                            retrying: RetryingStorage) -> None:
    flaky.failures, flaky.land = 1, True
    retrying.save("lock", b"mine")
    assert flaky.load("lock") == b"mine"


def test_exclusive_save_still_loses_to_another_writer(flaky: Flaky,
                                                      retrying: RetryingStorage) -> None:
    flaky.failures = 1
    original = flaky.save

    def someone_else_wins(name, data, *, overwrite=False):
        if flaky.failures == 0 and not flaky.exists(name):
            MemoryStorage.save(flaky, name, b"theirs")
        original(name, data, overwrite=overwrite)

    flaky.save = someone_else_wins
    with pytest.raises(AlreadyExists):
        retrying.save("lock", b"mine")
    assert flaky.load("lock") == b"theirs"


def test_remove_that_landed_before_failing_succeeds(flaky: Flaky,
                                                    retrying: RetryingStorage) -> None:
    flaky.save("a", b"1")
    flaky.failures, flaky.land = 1, True
    retrying.remove("a")
    assert not flaky.exists("a")


def test_list_resumes_without_repeating_names(flaky: Flaky, retrying: RetryingStorage) -> None:
    for name in ("a", "b", "c"):
        flaky.save(name, b"")
    flaky.failures = 2
    assert list(retrying.list()) == ["a", "b", "c"]


def test_wrapper_keeps_the_url_and_is_a_storage(flaky: Flaky,
                                                retrying: RetryingStorage) -> None:
    from backuprun.storage import Storage

    assert retrying.url == flaky.url
    assert isinstance(retrying, Storage)
    with pytest.raises(ValueError):
        RetryingStorage(flaky, attempts=0)
    assert issubclass(TransientError, StorageError)
