"""Interop checks: the `signalrcore` client (threads) against mock-hub's /conformance hub
(contract: fixtures/contract/CONTRACT.md) over WebSockets, Server-Sent Events and Long Polling,
with JSON and MessagePack where the transport carries it.

Usage: python signalrcore_interop.py <base-url> [--only <regex>] [--list]

signalrcore negotiates without `negotiateVersion` (version 0: the connection id is the
transport's `id`) and then sends `"version": 0` in its handshake; the server must accept both.
The server should run with short timers (mock-hub --fast-timers); keep-alive checks are skipped
when its keep-alive interval is over 5 s. Every library call and every wait is bounded.

Known limitations of signalrcore that checks work around or skip (never server faults):
* `stream()` sends the StreamInvocation before the caller can `subscribe()`, so early items can
  be dropped: the stream checks subscribe first and send the same message themselves.
* Uploads (`Subject`) are sent as non-blocking invocations (no invocationId), so the hub
  method's result is lost; a second check adds an invocationId to the same message.
* MessagePack uploads are malformed (invocation without its invocationId slot, stream
  completion without a result kind): skipped.
* Long Polling with MessagePack cannot work: the transport is never told the protocol is
  binary, so poll bodies are decoded as UTF-8 text and split on 0x1E (and the binary client's
  `__init__` calls `super(LongPollingTextClient, self)`): skipped.
* Long Polling hands over only the first message of a poll response and keeps the others
  buffered until later polls return, so messages lag by up to one poll timeout each; the
  Long Polling checks use longer waits and space stream items out.
* `stop()` closes the socket without a Close frame or shutdown, so its receive thread only
  ends when the server next writes (its next Ping): connections are stopped in the background.
* SSE carries text only (negotiate lists Text), so signalrcore falls back to JSON there.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from interop_common import (
    STEP_TIMEOUT,
    CheckFailed,
    Runner,
    Skip,
    expect,
    expect_equal,
    require_pinned,
)

VERSION = require_pinned("signalrcore")

from signalrcore.hub.base_hub_connection import BaseHubConnection  # noqa: E402
from signalrcore.hub.handlers import InvocationHandler, StreamHandler  # noqa: E402
from signalrcore.hub_connection_builder import HubConnectionBuilder  # noqa: E402
from signalrcore.messages.completion_message import CompletionClientStreamMessage  # noqa: E402
from signalrcore.messages.invocation_message import InvocationClientStreamMessage  # noqa: E402
from signalrcore.messages.message_type import MessageType  # noqa: E402
from signalrcore.messages.stream_invocation_message import StreamInvocationMessage  # noqa: E402
from signalrcore.messages.stream_item_message import StreamItemMessage  # noqa: E402
from signalrcore.subject import Subject  # noqa: E402
from signalrcore.types import HttpTransportType, HubProtocolEncoding  # noqa: E402

TRANSPORTS = {
    "WebSockets": HttpTransportType.web_sockets,
    "ServerSentEvents": HttpTransportType.server_sent_events,
    "LongPolling": HttpTransportType.long_polling,
}
ENCODINGS = {"json": HubProtocolEncoding.text, "messagepack": HubProtocolEncoding.binary}

# (transport, protocol) pairs; SSE is text-only.
VARIANTS = [
    ("WebSockets", "json"),
    ("WebSockets", "messagepack"),
    ("ServerSentEvents", "json"),
    ("LongPolling", "json"),
    ("LongPolling", "messagepack"),
]

CHECKS = [
    "connect with negotiation (negotiateVersion 0, handshake version 0)",
    "connect without negotiation (skip_negotiation)",
    "Echo string",
    "Echo numbers",
    "Echo nested object",
    "stream Counter(5)",
    "send + on() handlers",
    "upload stream with Subject (non-blocking)",
    "upload stream UploadConcat with result",
    "groups: JoinGroup + SendToGroup reach members only",
    "ThrowHubException error text",
    "keep-alive across several intervals",
]
WEBSOCKETS_ONLY = {"connect without negotiation (skip_negotiation)"}


def check_names() -> list[str]:
    return [
        f"{t}/{p}: {c}"
        for t, p in VARIANTS
        for c in CHECKS
        if t == "WebSockets" or c not in WEBSOCKETS_ONLY
    ]


# -------------------------------------------------------------------------------------------
# Library log capture: shown under a failing check.

LOG: list[str] = []
_log_lock = threading.Lock()


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        with _log_lock:
            LOG.append(f"{record.threadName} {record.levelname}: {record.getMessage()}"[:300])
            del LOG[:-50]


_lib_log = logging.getLogger("SignalRCoreClient")
_lib_log.addHandler(_Capture())
_lib_log.setLevel(logging.DEBUG)
_lib_log.propagate = False


def bounded(fn, what: str, timeout: float = STEP_TIMEOUT):
    """Runs a (possibly blocking) library call in a daemon thread, waiting at most `timeout`."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=run, name=f"bounded {what}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise CheckFailed(f"{what} did not return within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -------------------------------------------------------------------------------------------
# A connection under test.


class Conn:
    def __init__(self, base: str, transport: str, proto: str, *, skip_negotiation: bool = False,
                 keep_alive: float | None = None):
        self.transport_name = transport
        # Long Polling delivers at most one message per poll response (see the module doc).
        self.step = STEP_TIMEOUT if transport != "LongPolling" else 15.0
        options = {"transport": TRANSPORTS[transport]}
        if skip_negotiation:
            options["skip_negotiation"] = True
        builder = (HubConnectionBuilder()
                   .with_url(f"{base}/conformance", options=options)
                   .with_hub_protocol(ENCODINGS[proto]))
        if keep_alive is not None:
            # The client only pings (keep_alive_interval) when automatic reconnect is configured.
            builder = builder.with_automatic_reconnect({
                "type": "raw", "keep_alive_interval": keep_alive,
                "reconnect_interval": 1, "max_attempts": 1,
            })
        self.hub: BaseHubConnection = builder.build()
        self.cond = threading.Condition()
        self.messages: list = []
        self.errors: list = []
        self.opens = self.closes = self.reconnects = 0
        self.handler_calls: dict[str, list] = {}

        def bump(attr: str):
            def cb(*_args) -> None:
                with self.cond:
                    setattr(self, attr, getattr(self, attr) + 1)
                    self.cond.notify_all()
            return cb

        def on_error(message) -> None:
            with self.cond:
                self.errors.append(message)
                self.cond.notify_all()

        self.hub.on_open(bump("opens"))
        self.hub.on_close(bump("closes"))
        self.hub.on_reconnect(bump("reconnects"))
        self.hub.on_error(on_error)

        # Record every decoded message before the library dispatches it (start() hands
        # `self.on_message` to the transport, so an instance attribute takes its place).
        dispatch = self.hub.on_message

        def record(messages) -> None:
            with self.cond:
                self.messages.extend(messages)
                self.cond.notify_all()
            dispatch(messages)

        self.hub.on_message = record

    def __enter__(self) -> "Conn":
        started = bounded(self.hub.start, "HubConnection.start()")
        expect(started is True, f"start() returned {started!r}")
        self.wait_until(lambda: self.opens > 0, "the handshake response (on_open)")
        return self

    def __exit__(self, *exc) -> None:
        # stop() closes the socket without a WebSocket Close frame or a shutdown, so it waits
        # until the server next writes something (its next Ping) to wake the receive thread:
        # it runs in the background rather than costing each check a keep-alive interval.
        def stop() -> None:
            try:
                self.hub.stop()
            except Exception:  # noqa: BLE001 - teardown only
                pass

        threading.Thread(target=stop, name="HubConnection.stop()", daemon=True).start()

    def wait_until(self, pred, what: str, timeout: float | None = None):
        timeout = self.step if timeout is None else timeout
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise CheckFailed(f"{what} did not arrive within {timeout:.0f} s")

    def on(self, target: str) -> list:
        calls: list = []

        def handler(args) -> None:
            with self.cond:
                calls.append(args)
                self.cond.notify_all()

        self.hub.on(target, handler)
        return calls

    def _completion_for(self, invocation_id: str):
        for m in self.messages:
            if m.type == MessageType.completion and m.invocation_id == invocation_id:
                return m
        return None

    def completion(self, method: str, args: list):
        """Invokes with a result callback; returns the Completion (errors included)."""
        iid = str(uuid.uuid4())
        box: list = []

        def on_result(message) -> None:
            with self.cond:
                box.append(message)
                self.cond.notify_all()

        bounded(lambda: self.hub.invoke(method, args, on_invocation=on_result, invocation_id=iid),
                f"invoke({method})")
        self.wait_until(lambda: box or (self._completion_for(iid) or None) is not None
                        and self._completion_for(iid).error, f"the Completion of {method}")
        with self.cond:
            recorded = self._completion_for(iid)
            if recorded is not None and recorded.error:
                return recorded
            return box[0]

    def invoke(self, method: str, args: list):
        c = self.completion(method, args)
        if c.error:
            raise CheckFailed(f"{method} failed: {c.error}")
        return c.result

    def send(self, method: str, args: list) -> None:
        """The library's `send` (an invocation nobody waits for)."""
        bounded(lambda: self.hub.send(method, args), f"send({method})")


def connect_or_skip(base: str, transport: str, proto: str, **kw) -> Conn:
    if transport == "LongPolling" and proto == "messagepack":
        raise Skip(
            f"signalrcore {VERSION} cannot receive MessagePack over Long Polling (client bug: "
            "the transport is never told the protocol is binary, so poll bodies are decoded as "
            "UTF-8 text and split on 0x1E)")
    return Conn(base, transport, proto, **kw).__enter__()


class opened:
    """`with opened(base, transport, proto) as c:` (a Skip when the library cannot connect)."""

    def __init__(self, *args, **kw):
        self.args, self.kw = args, kw

    def __enter__(self) -> Conn:
        self.conn = connect_or_skip(*self.args, **self.kw)
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.__exit__(*exc)


# -------------------------------------------------------------------------------------------
# Checks. Each takes (base URL, transport name, protocol name).


def check_connect(base, transport, proto):
    with opened(base, transport, proto) as c:
        expect_equal(c.hub.protocol.version, 0, "handshake version sent (from negotiateVersion)")
        expect("id=" in c.hub.url, f"the transport URL has no connection id: {c.hub.url}")
        expect_equal(c.invoke("GetTransport", []), transport, "GetTransport()")
        expect_equal(c.invoke("GetQueryParameter", ["id"]) is not None, True, "an id query parameter")


def check_skip_negotiation(base, transport, proto):
    with opened(base, transport, proto, skip_negotiation=True) as c:
        expect_equal(c.invoke("GetTransport", []), "WebSockets", "GetTransport()")
        expect_equal(c.invoke("GetQueryParameter", ["id"]), None, "id query parameter")
        expect_equal(c.invoke("Echo", ["no negotiate"]), "no negotiate", "Echo")


def check_echo_string(base, transport, proto):
    with opened(base, transport, proto) as c:
        for value in ["hello", "", "héllo wörld ✓ \"quoted\" \\ \u0000 \U0001F600", "x" * 5000]:
            expect_equal(c.invoke("Echo", [value]), value, f"Echo({value[:40]!r})")
        expect_equal(c.invoke("EchoString", ["typed"]), "typed", "EchoString('typed')")


def check_echo_numbers(base, transport, proto):
    with opened(base, transport, proto) as c:
        for value in [0, 42, -7, 2**31, 2**53 + 1, -(2**40), 1.5, -0.25, 1e300]:
            expect_equal(c.invoke("Echo", [value]), value, f"Echo({value!r})")
        expect_equal(c.invoke("Add", [2147483647, 1]), 2147483648, "Add(2147483647, 1)")


def check_echo_nested(base, transport, proto):
    value = {
        "name": "nested",
        "list": [1, 2.5, "three", None, True, False, [], {}],
        "inner": {"deep": {"deeper": [{"k": "v"}, [1, [2, [3]]]]}, "empty": ""},
        "unicode": {"ключ": "значение"},
    }
    with opened(base, transport, proto) as c:
        expect_equal(c.invoke("Echo", [value]), value, "Echo(nested object)")
        expect_equal(c.invoke("Echo", [[value, None]]), [value, None], "Echo(array of object and null)")


def check_stream(base, transport, proto):
    with opened(base, transport, proto) as c:
        items: list = []
        ends: list = []

        def on_next(item):
            with c.cond:
                items.append(item)
                c.cond.notify_all()

        def on_end(kind):
            def cb(message):
                with c.cond:
                    ends.append((kind, message))
                    c.cond.notify_all()
            return cb

        # What `hub.stream(...)` does, but subscribed before the message goes out.
        iid = str(uuid.uuid4())
        handler = StreamHandler("Counter", iid)
        handler.subscribe({"next": on_next, "complete": on_end("complete"), "error": on_end("error")})
        c.hub.stream_handlers[iid].append(handler)
        delay = 0 if transport != "LongPolling" else 300
        bounded(lambda: c.hub.transport.send(
            StreamInvocationMessage(iid, "Counter", [5, delay], headers=c.hub.headers)), "send(StreamInvocation)")
        c.wait_until(lambda: ends or any(getattr(e, "error", None) for e in c.errors),
                     "the stream's Completion", timeout=c.step + (10 if delay else 0))
        expect(not c.errors, f"stream error: {[getattr(e, 'error', e) for e in c.errors]!r}")
        expect_equal([k for k, _ in ends], ["complete"], "stream end callbacks")
        expect_equal(items, [0, 1, 2, 3, 4], "stream items")
        expect(ends[0][1].result is None, f"a stream Completion has no result: {ends[0][1].result!r}")


def check_send_handlers(base, transport, proto):
    payload = {"text": "to the caller ✓", "n": [1, 2.5]}
    with opened(base, transport, proto) as c:
        first = c.on("CallerMsg")
        second = c.on("CallerMsg")
        others = c.on("OtherMsg")
        c.send("SendToCaller", ["CallerMsg", payload])
        c.wait_until(lambda: first and second, "the CallerMsg invocation")
        expect_equal(first, [[payload]], "first handler's argument lists")
        expect_equal(second, [[payload]], "second handler's argument lists")
        # A blocking send: the message to the caller arrives before the Completion.
        expect_equal(c.invoke("SendToCaller", ["OtherMsg", None]), None, "SendToCaller result")
        expect_equal(others, [[None]], "OtherMsg argument lists")


def upload_unsupported(proto: str) -> None:
    if proto == "messagepack":
        raise Skip(
            f"signalrcore {VERSION} encodes MessagePack uploads wrongly: the Invocation lacks its "
            "invocationId slot ([1, headers, target, arguments, streamIds]) and the stream's "
            "Completion lacks the result kind ([3, headers, invocationId]); the server rightly "
            "closes the connection")


def check_upload_subject(base, transport, proto):
    upload_unsupported(proto)
    with opened(base, transport, proto) as c:
        subject = Subject()
        bounded(lambda: c.hub.send("UploadConcat", subject), "send(UploadConcat, Subject)")
        for item in ["x", "y", "z"]:
            bounded(lambda: subject.next(item), "Subject.next")
        bounded(subject.complete, "Subject.complete")
        # A later round trip proves the upload messages were accepted; a non-blocking
        # invocation never gets a Completion (CONTRACT.md §2).
        expect_equal(c.invoke("Echo", ["after upload"]), "after upload", "Echo after the upload")
        time.sleep(0.2)
        with c.cond:
            completions = [m for m in c.messages if m.type == MessageType.completion]
        expect(len(completions) == 1 and completions[0].result == "after upload",
               f"expected only the Echo's Completion, got {[vars(m) for m in completions]!r}")
        expect_equal((c.opens, c.closes), (1, 0), "(opens, closes) of the connection")


def check_upload_with_result(base, transport, proto):
    upload_unsupported(proto)
    with opened(base, transport, proto) as c:
        stream_id, iid = str(uuid.uuid4()), str(uuid.uuid4())
        box: list = []

        def on_result(message):
            with c.cond:
                box.append(message)
                c.cond.notify_all()

        c.hub.stream_handlers[iid].append(InvocationHandler(iid, on_result))
        # The library's upload Invocation, plus the invocationId it leaves out.
        start = InvocationClientStreamMessage([stream_id], "UploadConcat", [], headers=c.hub.headers)
        start.invocation_id = iid
        send = c.hub.transport.send
        bounded(lambda: send(start), "send(upload Invocation)")
        for item in ["a", "bc", "", "déf"]:
            bounded(lambda: send(StreamItemMessage(stream_id, item, headers=c.hub.headers)), "send(StreamItem)")
        bounded(lambda: send(CompletionClientStreamMessage(stream_id, headers=c.hub.headers)), "send(Completion)")
        c.wait_until(lambda: box or c.errors, "the UploadConcat Completion")
        expect(not c.errors, f"UploadConcat failed: {[getattr(e, 'error', e) for e in c.errors]!r}")
        expect_equal(box[0].result, "abcdéf", "UploadConcat result")


def check_groups(base, transport, proto):
    group = f"py-{uuid.uuid4().hex[:12]}"
    payload = {"group": group, "n": 1, "list": [1, "two"]}
    with opened(base, transport, proto) as member, opened(base, transport, proto) as sender:
        got = member.on("GroupMsg")
        marks = member.on("Marker")
        leaked = sender.on("GroupMsg")
        member_id = member.invoke("GetConnectionId", [])
        expect_equal(member.invoke("JoinGroup", [group]), None, "JoinGroup result")

        sender.invoke("SendToGroup", [group, "GroupMsg", payload])
        member.wait_until(lambda: got, "the group message")
        expect_equal(got, [[payload]], "member's GroupMsg argument lists")
        # Messages to the caller arrive before its Completion: the non-member sender got none.
        expect_equal(leaked, [], "GroupMsg received by the non-member sender")

        member.invoke("LeaveGroup", [group])
        sender.invoke("SendToGroup", [group, "GroupMsg", {"after": "leave"}])
        sender.invoke("SendToConnection", [member_id, "Marker", 1])
        # The sender's sends are processed in order: a leaked group message would come first.
        member.wait_until(lambda: marks, "the marker")
        expect_equal(marks, [[1]], "Marker argument lists")
        expect_equal(got, [[payload]], "GroupMsg argument lists after LeaveGroup")


def check_hub_exception(base, transport, proto):
    expected = ("An unexpected error occurred invoking 'ThrowHubException' on the server. "
                "HubException: interop boom ✓")
    with opened(base, transport, proto) as c:
        completion = c.completion("ThrowHubException", ["interop boom ✓"])
        expect_equal(completion.error, expected, "Completion error")
        expect(completion.result is None, f"an error Completion has no result: {completion.result!r}")
        c.wait_until(lambda: c.errors, "the on_error callback")
        expect_equal([e.error for e in c.errors], [expected], "errors passed to on_error")
        expect_equal(c.invoke("Echo", [1]), 1, "Echo after the error")


def check_keep_alive(base, transport, proto):
    with opened(base, transport, proto) as probe:
        info = probe.invoke("Describe", [])
    keep_alive = info.get("keepAliveIntervalMs", 15000) / 1000
    client_timeout = info.get("clientTimeoutIntervalMs", 30000) / 1000
    if keep_alive > 5:
        raise Skip(f"the server's keep-alive interval is {keep_alive:g} s: run mock-hub with --fast-timers")
    hold = max(4 * keep_alive, client_timeout + 1.5)
    # On WebSockets the client pings (which arms the server's client timeout): its checker
    # wakes once a second and pings when nothing was sent for `keep_alive_interval`, so half
    # the server's interval keeps its gaps well inside the client timeout. Over SSE and Long
    # Polling it pings only after 15 s of silence, so within `hold` the server never arms it.
    client_pings = keep_alive / 2 if transport == "WebSockets" else None
    with opened(base, transport, proto, keep_alive=client_pings) as c:
        first_id = c.invoke("GetConnectionId", [])
        with c.cond:
            before = sum(1 for m in c.messages if m.type == MessageType.ping)
        time.sleep(hold)
        with c.cond:
            pings = sum(1 for m in c.messages if m.type == MessageType.ping) - before
            closes = [m for m in c.messages if m.type == MessageType.close]
        expect(not closes, f"the server closed the connection: {[vars(m) for m in closes]!r}")
        if transport == "LongPolling":
            # Inherent keep-alive: ASP.NET Core sends no Pings over Long Polling.
            expect_equal(pings, 0, f"server Pings over Long Polling in {hold:g} s")
        else:
            expect(pings >= int(hold / keep_alive) - 1,
                   f"{pings} server Pings in {hold:g} s with a {keep_alive:g} s keep-alive interval")
        expect_equal((c.opens, c.closes, c.reconnects), (1, 0, 0), "(opens, closes, reconnects) while idle")
        expect_equal(c.invoke("GetConnectionId", []), first_id, "connection id after idling")


CHECK_FUNCS = dict(zip(CHECKS, [
    check_connect,
    check_skip_negotiation,
    check_echo_string,
    check_echo_numbers,
    check_echo_nested,
    check_stream,
    check_send_handlers,
    check_upload_subject,
    check_upload_with_result,
    check_groups,
    check_hub_exception,
    check_keep_alive,
]))


def run_check(runner: Runner, name: str, func, *args) -> None:
    with _log_lock:
        LOG.clear()
    box: dict = {}

    def body() -> None:
        try:
            func(*args)
        except BaseException as e:  # noqa: BLE001 - reported as the check's outcome
            box["error"] = e

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    limit = 60.0 if args[1] == "LongPolling" else 30.0
    t.join(limit)
    if t.is_alive():
        box["error"] = CheckFailed(f"the check did not finish within {limit:.0f} s")
    with _log_lock:
        log = list(LOG)
    runner.outcome(name, box.get("error"), log)


def main() -> None:
    names = check_names()
    runner = Runner("signalrcore_interop.py", names)
    runner.comment(f"signalrcore {VERSION} against {runner.base_url}/conformance")
    for transport, proto in VARIANTS:
        for check, func in CHECK_FUNCS.items():
            name = f"{transport}/{proto}: {check}"
            if name in names and runner.selected(name):
                run_check(runner, name, func, runner.base_url, transport, proto)
    runner.finish()


if __name__ == "__main__":
    main()
