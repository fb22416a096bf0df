"""Interop checks: the `pysignalr` client (asyncio, WebSockets only) against mock-hub's
/conformance hub (contract: fixtures/contract/CONTRACT.md), with JSON and MessagePack.

Usage: python pysignalr_interop.py <base-url> [--only <regex>] [--list]

The server should run with short timers (mock-hub --fast-timers: 1 s keep-alive, 3 s client
timeout); the keep-alive check is skipped when the server's keep-alive interval is over 5 s.
Each check uses fresh connections; every wait is bounded (5 s per step, 20 s per check).

Known limitations of pysignalr that checks work around (never server faults):
* `client_stream()` sends the upload Invocation without an invocationId (non-blocking), so the
  hub method's result is lost: one check uses it as such (no Completion may come back), another
  sends the same message with an invocationId to check the result.
* It pings every 15 s by default: once its first Ping arms a short ClientTimeoutInterval the
  server times it out, so the keep-alive check pings at the server's keep-alive interval.
* A Close message with an error makes `run()` raise ServerError instead of reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from interop_common import (
    CHECK_TIMEOUT,
    STEP_TIMEOUT,
    CheckFailed,
    Runner,
    Skip,
    expect,
    expect_equal,
    require_pinned,
)

VERSION = require_pinned("pysignalr")

from pysignalr.client import ClientStream, SignalRClient  # noqa: E402
from pysignalr.messages import (  # noqa: E402
    CompletionMessage,
    InvocationClientStreamMessage,
    PingMessage,
)
from pysignalr.protocol.json import JSONProtocol  # noqa: E402
from pysignalr.protocol.messagepack import MessagepackProtocol  # noqa: E402

PROTOCOLS = {"json": JSONProtocol, "messagepack": MessagepackProtocol}

CHECKS = [
    "connect with negotiation (negotiateVersion 0)",
    "Echo string",
    "Echo numbers",
    "Echo nested object",
    "stream Counter(5)",
    "upload stream UploadConcat with result",
    "upload stream with client_stream() (non-blocking)",
    "groups: JoinGroup + SendToGroup reach members only",
    "ThrowHubException error text",
    "client result (InvokeCaller)",
    "keep-alive across several intervals",
]


def names() -> list[str]:
    return [f"WebSockets/{p}: {c}" for p in PROTOCOLS for c in CHECKS]


# -------------------------------------------------------------------------------------------
# Library log capture: shown under a failing check.

LOG: list[str] = []


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG.append(f"{record.name} {record.levelname}: {record.getMessage()}"[:300])
        del LOG[:-50]


logging.getLogger().addHandler(_Capture())
logging.getLogger().setLevel(logging.INFO)
for noisy in ("websockets", "asyncio"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


# -------------------------------------------------------------------------------------------
# A connection under test.


class Conn:
    """A SignalRClient running in a task, with every received message recorded."""

    def __init__(self, base: str, protocol: str, ping_interval: float = 15, hub: str = "conformance"):
        self.client = SignalRClient(
            f"{base}/{hub}",
            protocol=PROTOCOLS[protocol](),
            signalr_ping_interval=ping_interval,
            connection_timeout=int(STEP_TIMEOUT),
        )
        self.opened = asyncio.Event()
        self.opens = 0
        self.closes = 0
        self.pings = 0
        self.messages: list = []
        self.errors: list[CompletionMessage] = []
        self.task: asyncio.Task | None = None

        async def on_open() -> None:
            self.opens += 1
            self.opened.set()

        async def on_close() -> None:
            self.closes += 1

        async def on_error(message: CompletionMessage) -> None:
            self.errors.append(message)

        self.client.on_open(on_open)
        self.client.on_close(on_close)
        self.client.on_error(on_error)

        # Record what the transport decodes before the client dispatches it (the client drops
        # Pings and unknown completions silently).
        transport = self.client._transport
        dispatch = transport._callback

        async def record(message) -> None:
            self.messages.append(message)
            if isinstance(message, PingMessage):
                self.pings += 1
            await dispatch(message)

        transport._callback = record

    async def __aenter__(self) -> "Conn":
        self.task = asyncio.create_task(self.client.run())
        try:
            await asyncio.wait_for(self.opened.wait(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            detail = self._task_error() or "no handshake response"
            await self.close()
            raise CheckFailed(f"the connection did not open within {STEP_TIMEOUT:.0f} s: {detail}")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _task_error(self) -> str | None:
        if self.task is not None and self.task.done() and not self.task.cancelled():
            e = self.task.exception()
            if e is not None:
                return f"client.run() failed: {type(e).__name__}: {e}"
        return None

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, STEP_TIMEOUT)

    def on(self, target: str) -> asyncio.Queue:
        """The argument lists of every server-to-client invocation of `target`."""
        q: asyncio.Queue = asyncio.Queue()

        async def handler(args) -> None:
            q.put_nowait(args)

        self.client.on(target, handler)
        return q

    async def completion(self, method: str, args: list) -> CompletionMessage:
        """A blocking invocation's Completion (error or not)."""
        fut = asyncio.get_running_loop().create_future()

        async def done(message) -> None:
            if not fut.done():
                fut.set_result(message)

        await self.client.send(method, args, on_invocation=done)
        return await self._wait(fut, f"the Completion of {method}")

    async def invoke(self, method: str, args: list):
        """A blocking invocation's result; a Completion error fails the check."""
        c = await self.completion(method, args)
        if c.error is not None:
            raise CheckFailed(f"{method} failed: {c.error}")
        return c.result

    async def _wait(self, aw, what: str, timeout: float = STEP_TIMEOUT):
        try:
            return await asyncio.wait_for(aw, timeout)
        except asyncio.TimeoutError:
            detail = self._task_error()
            raise CheckFailed(
                f"{what} did not arrive within {timeout:.0f} s"
                + (f" ({detail})" if detail else "")
            ) from None

    async def next_from(self, q: asyncio.Queue, what: str):
        return await self._wait(q.get(), what)


def expect_empty(q: asyncio.Queue, what: str) -> None:
    if not q.empty():
        raise CheckFailed(f"{what}: {q.get_nowait()!r}")


class BlockingClientStream(ClientStream):
    """pysignalr's ClientStream sends its Invocation without an invocationId (non-blocking), so
    the hub method's result is lost. This one sends it with an id, so the Completion arrives."""

    def __init__(self, conn: Conn, target: str):
        super().__init__(conn.client._transport, target)
        self.completion_id = str(uuid.uuid4())
        self.done = asyncio.get_running_loop().create_future()

        async def on_completion(message) -> None:
            if not self.done.done():
                self.done.set_result(message)

        conn.client._invocation_handlers[self.completion_id] = on_completion

    async def invoke(self) -> None:
        await self.transport.send(
            InvocationClientStreamMessage(
                [self.invocation_id], self.target, [], invocation_id=self.completion_id
            )
        )


# -------------------------------------------------------------------------------------------
# Checks. Each takes the base URL and a protocol name.


async def check_connect(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        expect("id=" in c.client._transport._url, f"no connection id in the transport URL {c.client._transport._url}")
        expect_equal(await c.invoke("GetTransport", []), "WebSockets", "GetTransport()")
        expect_equal(c.opens, 1, "connections opened")


async def check_echo_string(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        for value in ["hello", "", "héllo wörld ✓ \"quoted\" \\ \u0000 \U0001F600", "x" * 5000]:
            expect_equal(await c.invoke("Echo", [value]), value, f"Echo({value[:40]!r})")
        expect_equal(await c.invoke("EchoString", ["typed"]), "typed", "EchoString('typed')")


async def check_echo_numbers(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        for value in [0, 42, -7, 2**31, 2**53 + 1, -(2**40), 1.5, -0.25, 1e300]:
            expect_equal(await c.invoke("Echo", [value]), value, f"Echo({value!r})")
        expect_equal(await c.invoke("Add", [2147483647, 1]), 2147483648, "Add(2147483647, 1)")


async def check_echo_nested(base: str, proto: str) -> None:
    value = {
        "name": "nested",
        "list": [1, 2.5, "three", None, True, False, [], {}],
        "inner": {"deep": {"deeper": [{"k": "v"}, [1, [2, [3]]]]}, "empty": ""},
        "unicode": {"ключ": "значение"},
    }
    async with Conn(base, proto) as c:
        expect_equal(await c.invoke("Echo", [value]), value, "Echo(nested object)")
        expect_equal(await c.invoke("Echo", [[value, None]]), [value, None], "Echo(array of object and null)")


async def check_stream(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        items: list = []
        done = asyncio.get_running_loop().create_future()
        errors: list = []

        async def on_next(item) -> None:
            items.append(item)

        async def on_complete(message) -> None:
            if not done.done():
                done.set_result(message)

        async def on_error(message) -> None:
            errors.append(message)
            if not done.done():
                done.set_result(message)

        await c.client.stream("Counter", [5, 10], on_next=on_next, on_complete=on_complete, on_error=on_error)
        completion = await c._wait(done, "the stream's Completion")
        expect(not errors, f"stream error: {getattr(completion, 'error', completion)!r}")
        expect_equal(items, [0, 1, 2, 3, 4], "stream items")
        expect(completion.error is None and completion.result is None,
               f"stream Completion must carry neither error nor result: {completion!r}")


async def check_upload_with_result(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        stream = BlockingClientStream(c, "UploadConcat")
        await stream.invoke()
        for item in ["a", "bc", "", "déf"]:
            await stream.send(item)
        await stream.complete()
        completion = await c._wait(stream.done, "the UploadConcat Completion")
        expect(completion.error is None, f"UploadConcat failed: {completion.error}")
        expect_equal(completion.result, "abcdéf", "UploadConcat result")


async def check_upload_non_blocking(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        async with c.client.client_stream("UploadConcat") as stream:
            for item in ["x", "y", "z"]:
                await stream.send(item)
        # A later round trip on the same connection proves the upload messages were accepted
        # (a protocol error closes the connection), and a non-blocking invocation never gets
        # a Completion (CONTRACT.md §2).
        expect_equal(await c.invoke("Echo", ["after upload"]), "after upload", "Echo after the upload")
        await asyncio.sleep(0.2)
        completions = [m for m in c.messages if isinstance(m, CompletionMessage)]
        expect(len(completions) == 1 and completions[0].result == "after upload",
               f"expected only the Echo's Completion, got {completions!r}")
        expect_equal((c.opens, c.closes), (1, 0), "(opens, closes) of the connection")


async def check_groups(base: str, proto: str) -> None:
    group = f"py-{uuid.uuid4().hex[:12]}"
    payload = {"group": group, "n": 1, "list": [1, "two"]}
    async with Conn(base, proto) as member, Conn(base, proto) as sender:
        member_q = member.on("GroupMsg")
        member_marks = member.on("Marker")
        sender_q = sender.on("GroupMsg")
        member_id = await member.invoke("GetConnectionId", [])
        expect(await member.invoke("JoinGroup", [group]) is None, "JoinGroup returns null")

        await sender.invoke("SendToGroup", [group, "GroupMsg", payload])
        expect_equal(await member.next_from(member_q, "the group message"), [payload], "member's GroupMsg arguments")
        # Messages to the caller arrive before its Completion: the non-member sender got none.
        expect_empty(sender_q, "the non-member sender got the group message")

        await member.invoke("LeaveGroup", [group])
        await sender.invoke("SendToGroup", [group, "GroupMsg", {"after": "leave"}])
        await sender.invoke("SendToConnection", [member_id, "Marker", 1])
        # The sender's sends are processed in order: a leaked group message would come first.
        expect_equal(await member.next_from(member_marks, "the marker"), [1], "Marker arguments")
        expect_empty(member_q, "a member that left the group still got the group message")


async def check_hub_exception(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        completion = await c.completion("ThrowHubException", ["interop boom ✓"])
        expected = ("An unexpected error occurred invoking 'ThrowHubException' on the server. "
                    "HubException: interop boom ✓")
        expect_equal(completion.error, expected, "Completion error")
        expect(completion.result is None, f"an error Completion has no result: {completion.result!r}")
        expect_equal([m.error for m in c.errors], [expected], "errors passed to on_error")
        # The connection survives a hub exception.
        expect_equal(await c.invoke("Echo", [1]), 1, "Echo after the error")


async def check_client_result(base: str, proto: str) -> None:
    async with Conn(base, proto) as c:
        calls: list = []

        async def add(args):
            calls.append(args)
            return {"sum": args[0] + args[1], "echo": args[2]}

        c.client.on("AddOnClient", add)
        result = await c.invoke("InvokeCaller", ["AddOnClient", [40, 2, "ü"], 4000])
        expect_equal(calls, [[40, 2, "ü"]], "arguments the client handler got")
        expect_equal(result, {"sum": 42, "echo": "ü"}, "InvokeCaller result")


async def check_keep_alive(base: str, proto: str) -> None:
    async with Conn(base, proto) as probe:
        info = await probe.invoke("Describe", [])
    keep_alive = info.get("keepAliveIntervalMs", 15000) / 1000
    client_timeout = info.get("clientTimeoutIntervalMs", 30000) / 1000
    if keep_alive > 5:
        raise Skip(f"the server's keep-alive interval is {keep_alive:g} s: run mock-hub with --fast-timers")
    # The client pings at the server's keep-alive interval (pysignalr's default is 15 s, which
    # a 3 s ClientTimeoutInterval would not tolerate once the first Ping arms it).
    hold = max(4 * keep_alive, client_timeout + 1.5)
    async with Conn(base, proto, ping_interval=keep_alive) as c:
        first_id = await c.invoke("GetConnectionId", [])
        pings_before = c.pings
        await asyncio.sleep(hold)
        pings = c.pings - pings_before
        expect(pings >= int(hold / keep_alive) - 1,
               f"{pings} server Pings in {hold:g} s with a {keep_alive:g} s keep-alive interval")
        expect_equal((c.opens, c.closes), (1, 0), "(opens, closes) while idle")
        expect_equal(await c.invoke("GetConnectionId", []), first_id, "connection id after idling (no reconnect)")


CHECK_FUNCS = dict(zip(CHECKS, [
    check_connect,
    check_echo_string,
    check_echo_numbers,
    check_echo_nested,
    check_stream,
    check_upload_with_result,
    check_upload_non_blocking,
    check_groups,
    check_hub_exception,
    check_client_result,
    check_keep_alive,
]))


async def main(runner: Runner) -> None:
    runner.comment(f"pysignalr {VERSION} against {runner.base_url}/conformance (WebSockets)")
    for proto in PROTOCOLS:
        for check, func in CHECK_FUNCS.items():
            name = f"WebSockets/{proto}: {check}"
            if not runner.selected(name):
                continue
            LOG.clear()
            exc: BaseException | None = None
            try:
                await asyncio.wait_for(func(runner.base_url, proto), CHECK_TIMEOUT)
            except asyncio.TimeoutError:
                exc = CheckFailed(f"the check did not finish within {CHECK_TIMEOUT:.0f} s")
            except Exception as e:  # noqa: BLE001 - reported as the check's failure
                exc = e
            runner.outcome(name, exc, LOG)


if __name__ == "__main__":
    r = Runner("pysignalr_interop.py", names())
    asyncio.run(main(r))
    r.finish()
