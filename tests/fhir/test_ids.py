"""Ids the server assigns: valid FHIR ids and UUIDs, never repeated — across threads and in a
forked child — and instants written as FHIR wants them."""

from __future__ import annotations

import os
import re
import threading
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from vardnav.fhir.datetimes import instant
from vardnav.fhir.ids import _uuid4_text, check_id, new_id

V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_new_ids_are_random_uuids_and_valid_fhir_ids() -> None:
    ids = [new_id() for _ in range(1000)]  # more than one batch
    assert len(set(ids)) == 1000
    for value in ids:
        assert V4.match(value), value
        assert uuid.UUID(value).version == 4
        check_id(value)


@given(st.binary(min_size=16, max_size=16))
def test_an_id_is_the_version_4_uuid_of_its_random_bytes(random16: bytes) -> None:
    assert _uuid4_text(random16) == str(uuid.UUID(bytes=random16, version=4))


def test_threads_drawing_ids_at_once_never_share_one() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(into: list[str]) -> None:
        start.wait()
        into.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(d,)) for d in drawn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for d in drawn for i in d]
    assert len(every) == 40_000
    assert len(set(every)) == 40_000


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    new_id()  # a batch is ready in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave
        os.close(read)
        os.write(write, " ".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent


@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_an_instant_is_the_utc_time_to_the_millisecond(ts: float) -> None:
    dt = datetime.fromtimestamp(ts, UTC)
    assert instant(ts) == (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:"
                           f"{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z")
