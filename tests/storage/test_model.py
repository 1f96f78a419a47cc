"""Every backend behaves like a dict: random runs of operations against a model."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backuprun.storage import AlreadyExists, NotFound

NAMES = st.sampled_from(["config", "locks/a", "data/ab/1", "data/ab/2", "data/abc", "x.y-z_"])
PREFIXES = st.sampled_from(["", "data/", "data/ab", "data/ab/", "locks/", "c", "none/"])
OPS = st.one_of(
    st.tuples(st.just("save"), NAMES, st.binary(max_size=64), st.booleans()),
    st.tuples(st.just("load"), NAMES, st.integers(0, 70), st.none() | st.integers(0, 70)),
    st.tuples(st.just("remove"), NAMES),
    st.tuples(st.just("size"), NAMES),
    st.tuples(st.just("list"), PREFIXES),
)


def _apply(storage, model: dict[str, bytes], op: tuple) -> None:
    kind, arg = op[0], op[1]
    if kind == "save":
        data, overwrite = op[2], op[3]
        if arg in model and not overwrite:
            try:
                storage.save(arg, data)
            except AlreadyExists:
                return
            raise AssertionError(f"save over {arg} without overwrite succeeded")
        storage.save(arg, data, overwrite=overwrite)
        model[arg] = data
    elif kind == "list":
        assert sorted(storage.list(arg)) == sorted(n for n in model if n.startswith(arg))
    elif arg not in model:
        assert not storage.exists(arg)
        try:
            {"load": storage.load, "remove": storage.remove, "size": storage.size}[kind](arg)
        except NotFound:
            return
        raise AssertionError(f"{kind} of missing {arg} succeeded")
    elif kind == "load":
        offset, length = op[2], op[3]
        end = None if length is None else offset + length
        assert storage.load(arg, offset, length) == model[arg][offset:end]
    elif kind == "remove":
        storage.remove(arg)
        del model[arg]
    else:
        assert storage.size(arg) == len(model[arg])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, max_size=25))
def test_backend_matches_a_dict(storage_factory, ops: list[tuple]) -> None:
    storage, model = storage_factory(), {}
    for op in ops:
        _apply(storage, model, op)
    assert sorted(storage.list()) == sorted(model)
