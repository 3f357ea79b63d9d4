"""Name lookups in a child process: answers, failures, and what is kept.

Lookups here are of ``localhost`` (the hosts file answers it) and of a
name whose IDNA form is refused before any query goes out, so no test
asks a name server.  How a slow lookup leaves the loop serving is tested
with a real daemon in ``tests/integration/test_name_lookup.py``.
"""

from __future__ import annotations

import socket
from typing import Iterator, List

import pytest
from fakeloop import FakeLoop

from pyser2net.config.model import Accepter
from pyser2net.runtime import resolver
from pyser2net.runtime.binder import Binder
from pyser2net.runtime.listeners import TcpListener, accepter_queries, needs_lookup
from pyser2net.runtime.resolver import Answer, NameBook, Query, lookup, numeric

#: A name the resolver refuses at once: one label longer than 63 bytes.
BAD_NAME = "\u00fc" * 64 + ".test"


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    fake = FakeLoop()
    yield fake
    fake.close()


def settle(loop: FakeLoop, done, turns: int = 3000) -> None:
    """Turn until ``done()``: the child answers in real time, and is reaped
    on the loop's (fake) clock, which moves along."""
    for _ in range(turns):
        if done():
            return
        loop.advance(0.01)
        loop.reactor.run_once(timeout=0.01)
    raise AssertionError("no answer")


def test_addresses_written_as_digits_are_converted_at_once() -> None:
    assert numeric(Query("127.0.0.1", 7, socket.AF_INET, socket.SOCK_STREAM)) == [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, ("127.0.0.1", 7))
    ]
    assert numeric(Query("::1", 7, 0, socket.SOCK_STREAM))[0][3][:2] == ("::1", 7)
    # An address of the other family has no address of this one; a name
    # (or a typo that is not an address) needs a lookup.
    assert numeric(Query("127.0.0.1", 7, socket.AF_INET6, socket.SOCK_STREAM)) == []
    assert numeric(Query("localhost", 7)) is None
    assert numeric(Query("127..0.0.1", 7)) is None


def test_a_host_parsed_once_keeps_each_query_s_own_port() -> None:
    # The text of a host is parsed once; each port gets its own addresses.
    for port in (7, 8, 7):
        assert numeric(Query("127.0.0.1", port, socket.AF_INET, socket.SOCK_STREAM)) == [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, ("127.0.0.1", port))
        ]
        v6 = numeric(Query("::1", port, socket.AF_INET6, socket.SOCK_STREAM))
        assert v6 == [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, ("::1", port, 0, 0))
        ]
    # The answers are the caller's own: changing one changes no later one.
    first = numeric(Query("127.0.0.1", 9, socket.AF_INET, socket.SOCK_STREAM))
    assert first is not None
    first.clear()
    assert numeric(Query("127.0.0.1", 9, socket.AF_INET, socket.SOCK_STREAM))


def test_a_child_answers_each_query_in_order(loop: FakeLoop) -> None:
    answers: List[List[Answer]] = []
    queries = [
        Query("localhost", 2000, socket.AF_INET, socket.SOCK_STREAM),
        Query(BAD_NAME, 2000),
    ]
    pending = lookup(loop.reactor, queries, answers.append)
    assert resolver.pending(loop.reactor) == {pending}
    settle(loop, lambda: bool(answers))
    found, refused = answers[0]
    assert (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, ("127.0.0.1", 2000)) in found
    assert isinstance(refused, str) and "idna" in refused
    assert resolver.pending(loop.reactor) == set()


def test_a_cancelled_lookup_says_nothing(loop: FakeLoop) -> None:
    answers: List[object] = []
    pending = lookup(loop.reactor, [Query("localhost")], answers.append)
    pending.cancel()
    for _ in range(20):
        loop.advance(0.01)
    assert answers == [] and resolver.pending(loop.reactor) == set()


def test_answers_that_are_not_the_childs_are_refused() -> None:
    assert resolver._answers(b"not json", 1) is None
    assert resolver._answers(b"[]", 1) is None
    assert resolver._answers(b'[[["x", 1, 2, []]]]', 1) is None
    assert resolver._answers(b'["why"]', 1) == ["why"]
    assert resolver._answers(b'[[[2, 1, 6, ["127.0.0.1", 7]]]]', 1) == [
        [(2, 1, 6, ("127.0.0.1", 7))]
    ]


def test_a_name_book_keeps_what_it_found_when_looking_up_again_fails(loop: FakeLoop) -> None:
    good, bad = Query("localhost", 7, socket.AF_INET, socket.SOCK_STREAM), Query(BAD_NAME, 7)
    book = NameBook(loop.reactor, [good, bad, Query("127.0.0.1", 7)])
    assert book.unanswered() == [good, bad]
    found: List[bool] = []
    book.look_up(lambda: found.append(True))
    assert book.starting
    settle(loop, lambda: bool(found))
    before = book.get(good)
    assert not isinstance(before, str) and before[0][3] == ("127.0.0.1", 7)
    assert "idna" in str(book.get(bad)) and not book.needs_lookup
    # Looking a name up again replaces a failure, and a failure never
    # replaces addresses found before.
    book.answers[good] = "the name server was down"
    book.refresh(good)
    settle(loop, lambda: not book._lookups)
    assert book.get(good) == before
    book.answers[good] = before
    book.refresh(bad)
    settle(loop, lambda: not book._lookups)
    assert "idna" in str(book.get(bad))


def test_a_binder_listens_on_a_name_once_it_is_found(loop: FakeLoop) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    accepter = Accepter(text=f"tcp,localhost,{port}", host="localhost", port=port, family="ipv4")
    assert needs_lookup(accepter) and len(accepter_queries(accepter)) == 1
    bound: List[str] = []
    listener = TcpListener(loop.reactor, accepter, lambda sock, addr: sock.close())
    binder = Binder(loop.reactor, listener, "p", 10, on_bound=lambda: bound.append("up"))
    try:
        assert not binder.start()  # not yet: the name is being looked up
        assert binder.looking_up and not binder.waiting and not binder.bound
        settle(loop, lambda: bool(bound))
        assert binder.bound and listener.addresses() == [f"127.0.0.1:{port}"]
        # The admin's setportenable binds what was found, without a lookup.
        binder.stop()
        assert binder.try_once() is None and binder.bound and not binder.looking_up
    finally:
        binder.stop()


def test_a_binder_retries_a_name_that_cannot_be_looked_up(
    loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    accepter = Accepter(text=f"tcp,{BAD_NAME},2000", host=BAD_NAME, port=2000)
    listener = TcpListener(loop.reactor, accepter, lambda sock, addr: sock.close())
    binder = Binder(loop.reactor, listener, "p", 10)
    try:
        assert not binder.start()
        settle(loop, lambda: binder.waiting)
        assert not binder.bound and binder.failures == 1
        line = [r.getMessage() for r in caplog.records if "cannot listen" in r.getMessage()]
        assert line and line[0].startswith(f"p: cannot listen on tcp,{BAD_NAME},2000: ")
        assert "cannot look up host" in line[0]
        assert line[0].endswith("; retrying in 10 s, less often while the name is unknown")
        # Each lookup is a process started: while the name stays unknown,
        # the retries come after twice the wait before, up to a minute.
        delays = [binder.retry_delay()]
        for _ in range(4):
            loop.advance(delays[-1])
            assert binder.looking_up
            settle(loop, lambda: binder.waiting)
            delays.append(binder.retry_delay())
        assert delays == [10, 20, 40, 60, 60] and binder.failures == 5
        # The same failure is logged again only once a minute has passed:
        # not after 10 s and 20 s more, then after 40 s (70 s in all).
        lines = [r.getMessage() for r in caplog.records if "cannot listen" in r.getMessage()]
        assert [line.rsplit(": ", 1)[1] for line in lines] == [
            "label empty or too long); retrying in 10 s, less often while the name is unknown",
            "label empty or too long) (4 attempts); retrying in 60 s, less often while the "
            "name is unknown",
            "label empty or too long) (5 attempts); retrying in 60 s, less often while the "
            "name is unknown",
        ]
    finally:
        binder.stop()


def test_a_binder_retries_a_name_found_at_its_usual_interval(
    loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """A name that is found resets the wait: an address in use is tried
    again every ``accepter-retry-time``, as an address written as digits."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    accepter = Accepter(text=f"tcp,localhost,{port}", host="localhost", port=port, family="ipv4")
    listener = TcpListener(loop.reactor, accepter, lambda sock, addr: sock.close())
    binder = Binder(loop.reactor, listener, "p", 10)
    try:
        binder.start()
        settle(loop, lambda: binder.waiting)
        assert binder.lookup_failures == 0 and binder.retry_delay() == 10
        line = [r.getMessage() for r in caplog.records if "cannot listen" in r.getMessage()]
        assert line[0].endswith("; retrying every 10 s")
        binder.lookup_failures = 3  # as after three lookups that found nothing
        loop.advance(10)
        settle(loop, lambda: binder.waiting)
        assert binder.lookup_failures == 0 and binder.retry_delay() == 10
    finally:
        binder.stop()
        holder.close()


def test_the_first_start_waits_for_the_names_of_its_ports(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing serves yet at start: the engine turns the loop until the
    lookups are answered, so that its summary counts the port listening."""
    from pyser2net.config import read_config_file
    from pyser2net.runtime.engine import Engine
    from pyser2net.runtime.reactor import Reactor

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "ser2net.yaml"
    path.write_text(
        f"connection: &named\n  accepter: tcp,ipv4,localhost,{port}\n  connector: echo\n"
        "  options:\n    remaddr: localhost,0\n"
    )
    result = read_config_file(str(path))
    assert not result.issues
    reactor = Reactor()
    engine = Engine(result.config, reactor)
    caplog.set_level("INFO")
    try:
        engine.start()
        assert resolver.pending(reactor) == set()
        named = engine.ports["named"]
        assert named.binder.bound and named.listener.addresses() == [f"127.0.0.1:{port}"]
        assert "127.0.0.1" in named._allowed[0][0]  # remaddr looked up too
        summary = caplog.records[-1].getMessage()
        assert summary == "1 connection listening"
    finally:
        for port_ in engine.ports.values():
            port_.stop()
        reactor.close()


def test_a_conacc_peer_named_by_host_is_opened_once_the_name_is_found(loop: FakeLoop) -> None:
    from pyser2net.config.model import ConAcc, Connector, NetworkDevice
    from pyser2net.runtime.conacc import ConAccListener

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    connector = Connector(f"tcp,localhost,{port}", NetworkDevice("localhost", port))
    accepter = Accepter(
        text=f"conacc,tcp,localhost,{port}",
        transport="conacc",
        conacc=ConAcc(connector=connector, retry_time_ms=0),
    )
    handed: List[str] = []
    errors: List[str] = []
    listener = ConAccListener(
        loop.reactor,
        accepter,
        lambda stream, label: handed.append(label),
        errors=errors.append,
        retry_after_failure=10,
    )
    try:
        listener.start()
        assert listener.names.starting and listener.stream is None  # looking up first
        settle(loop, lambda: listener.stream is not None or bool(errors))
        assert errors == [] and listener.stream is not None
    finally:
        listener.stop()
        server.close()
