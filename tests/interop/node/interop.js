#!/usr/bin/env node
// Interop checks: the official @microsoft/signalr client (+ signalr-protocol-msgpack) under Node
// against a mock-hub (or any server with the same hubs) over WebSockets.
//
// Usage: node interop.js <base-url> [--only <regex>] [--list]
//        MOCK_HUB_URL=<base-url> node interop.js
//
// The server is expected to run with short timers (mock-hub --fast-timers: 1 s keep-alive,
// 3 s client timeout). Every check prints `ok - name` or `not ok - name: details`; the exit code
// is 1 if any check failed, 2 on a usage error.
//
// Hubs used (see mock-server/src/hubs/): /testhub and /authorizedhub (the TestHub app of
// Microsoft's TypeScript client functional tests), /conformance and /authhub (fixtures/contract;
// /authhub needs the server to close connections whose token expires).

"use strict";

const assert = require("node:assert/strict");
const util = require("node:util");
const signalR = require("@microsoft/signalr");
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");

// The client under test must be the one package.json pins (a stale node_modules is not).
{
    const pinned = require("./package.json").dependencies;
    for (const name of Object.keys(pinned)) {
        const installed = require(`${name}/package.json`).version;
        if (installed !== pinned[name]) {
            console.log(`not ok - ${name} ${installed} is installed but package.json pins ${pinned[name]}: run \`npm ci --prefix tests/interop/node\``);
            process.exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

function usage(message) {
    if (message) {
        console.error(`interop.js: ${message}`);
    }
    console.error("usage: node interop.js <base-url> [--only <regex>] [--list]  (or MOCK_HUB_URL=<base-url>)");
    process.exit(2);
}

let baseUrl = process.env.MOCK_HUB_URL;
let only = null;
let listOnly = false;
{
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--only") {
            if (i + 1 >= argv.length) {
                usage("--only needs a regular expression");
            }
            only = new RegExp(argv[++i]);
        } else if (a === "--list") {
            listOnly = true;
        } else if (a === "-h" || a === "--help") {
            usage();
        } else if (a.startsWith("-")) {
            usage(`unknown option ${a}`);
        } else {
            baseUrl = a;
        }
    }
}
if (!baseUrl && !listOnly) {
    usage("no server base URL");
}
baseUrl = (baseUrl || "http://127.0.0.1:5000").replace(/\/+$/, "");

// Server timers this suite assumes (mock-hub --fast-timers).
const SERVER_KEEP_ALIVE_MS = 1000;
// The client's ping interval (below the server's 3 s client timeout).
const CLIENT_KEEP_ALIVE_MS = 1000;
// Default bound of one check.
const CHECK_TIMEOUT_MS = 10000;
// Bound of one wait inside a check (an event, a result).
const WAIT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Helpers

class TimeoutError extends Error {}

/** `p`, or a rejection after `ms` naming `what`. */
function within(p, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([Promise.resolve(p), t]).finally(() => clearTimeout(timer));
}

function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function show(v) {
    return util.inspect(v, { depth: 6, breakLength: Infinity, compact: true, maxStringLength: 120, maxArrayLength: 40 });
}

function errorText(e) {
    if (e instanceof assert.AssertionError) {
        if ("expected" in e && e.operator !== "fail" && e.operator !== "==") {
            const what = e.generatedMessage ? e.operator : e.message.split("\n")[0];
            return `${what}: expected ${show(e.expected)}, got ${show(e.actual)}`;
        }
        return e.message.replace(/\n+/g, " | ");
    }
    if (e instanceof Error) {
        return `${e.constructor.name}: ${e.message}`;
    }
    return show(e);
}

/** Asserts that `p` rejects; returns the error's message. */
async function rejection(p, what) {
    let value;
    try {
        value = await within(p, WAIT_MS, what);
    } catch (e) {
        if (e instanceof TimeoutError) {
            throw e;
        }
        return e && e.message !== undefined ? e.message : String(e);
    }
    throw new assert.AssertionError({ message: `${what}: expected a rejection, got the value ${show(value)}` });
}

/** Collects a server-to-client stream; resolves `{items, error}` when it completes or errors. */
function collect(streamResult, ms, what) {
    const items = [];
    let subscription;
    const done = new Promise((resolve) => {
        subscription = streamResult.subscribe({
            next: (item) => items.push(item),
            complete: () => resolve({ items, error: undefined }),
            error: (err) => resolve({ items, error: err }),
        });
    });
    return within(done, ms, what).catch((e) => {
        subscription.dispose();
        throw e;
    });
}

/** A promise for the next call of client method `name` on `conn` (its arguments). */
function nextCall(conn, name) {
    return new Promise((resolve) => {
        const handler = (...args) => {
            conn.off(name, handler);
            resolve(args);
        };
        conn.on(name, handler);
    });
}

/** Records every call of client method `name`. */
function recorder(conn, name) {
    const calls = [];
    const waiters = [];
    conn.on(name, (...args) => {
        calls.push(args);
        for (const w of waiters.splice(0)) {
            w();
        }
    });
    const rec = {
        calls,
        /** Waits until `n` calls arrived. */
        atLeast(n, ms, what) {
            return rec.until(() => calls.length >= n, ms, what);
        },
        /** Waits until a call whose arguments are `[value]` arrived. */
        got(value, ms, what) {
            return rec.until(() => calls.some((args) => util.isDeepStrictEqual(args, [value])), ms, what);
        },
        /** Waits until `done()` holds. */
        async until(done, ms, what) {
            const until = Date.now() + ms;
            while (!done()) {
                const left = until - Date.now();
                if (left <= 0) {
                    throw new TimeoutError(`timed out after ${ms} ms waiting for ${what} (got ${calls.length} call(s): ${show(calls)})`);
                }
                await within(new Promise((r) => waiters.push(r)), left, what).catch((e) => {
                    if (!(e instanceof TimeoutError)) {
                        throw e;
                    }
                });
            }
            return calls;
        },
    };
    return rec;
}

async function httpGet(path, what) {
    const r = await within(fetch(baseUrl + path), WAIT_MS, what);
    const body = await within(r.text(), WAIT_MS, `${what} body`);
    return { status: r.status, body };
}

/** A token for the conformance hub (`GET /contract/token?user=`). */
async function contractToken(user) {
    const r = await httpGet(`/contract/token?user=${encodeURIComponent(user)}`, `token for ${user}`);
    assert.equal(r.status, 200, `GET /contract/token?user=${user}: status ${r.status}, body ${show(r.body)}`);
    assert.ok(r.body.length > 0, "empty token");
    return r.body;
}

/** The HTTP status a WebSocket upgrade request to `path` gets (101 when accepted). */
function upgradeStatus(path) {
    const http = require("node:http");
    return within(new Promise((resolve, reject) => {
        const req = http.request(baseUrl + path, {
            headers: {
                Connection: "Upgrade",
                Upgrade: "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        });
        req.on("upgrade", (res, socket) => {
            socket.destroy();
            resolve(res.statusCode);
        });
        req.on("response", (res) => {
            res.resume();
            resolve(res.statusCode);
        });
        req.on("error", reject);
        req.end();
    }), WAIT_MS, `upgrade of ${path}`);
}

function unique(prefix) {
    return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Logger that keeps the client's log lines for a failure report. */
class CapturingLogger {
    constructor(sink, tag) {
        this.sink = sink;
        this.tag = tag;
    }
    log(level, message) {
        if (level >= signalR.LogLevel.Debug) {
            this.sink.push(`[${this.tag}] ${signalR.LogLevel[level]}: ${message}`);
            if (this.sink.length > 400) {
                this.sink.splice(0, this.sink.length - 400);
            }
        }
    }
}

/** Wraps a hub protocol to count the Ping messages the client receives. */
function pingCounting(inner) {
    const counter = { pings: 0 };
    const p = Object.create(inner);
    p.parseMessages = (input, logger) => {
        const messages = inner.parseMessages(input, logger);
        for (const m of messages) {
            if (m.type === signalR.MessageType.Ping) {
                counter.pings++;
            }
        }
        return messages;
    };
    return { protocol: p, counter };
}

// ---------------------------------------------------------------------------------------------
// Check runner

const results = [];

/** The state of one check: the combination it runs in, its connections and their logs. */
class Ctx {
    constructor(combo) {
        this.combo = combo;
        this.logs = [];
        this.connections = [];
        this.n = 0;
    }

    /**
     * Builds a connection to `path` for this combination (protocol, skipNegotiation) and,
     * unless `start: false`, starts it. `conn.closed` resolves with onclose's error argument.
     */
    async connect(path, options = {}) {
        const tag = `${path}#${++this.n}`;
        const httpOptions = {
            transport: signalR.HttpTransportType[this.combo.transport],
            skipNegotiation: this.combo.skipNegotiation,
            logger: new CapturingLogger(this.logs, tag),
            logMessageContent: true,
        };
        if (options.accessTokenFactory) {
            httpOptions.accessTokenFactory = options.accessTokenFactory;
        }
        const protocol = options.protocol || this.combo.makeProtocol();
        let builder = new signalR.HubConnectionBuilder()
            .withUrl(baseUrl + path, httpOptions)
            .withHubProtocol(protocol)
            .configureLogging(new CapturingLogger(this.logs, tag));
        if (options.serverTimeoutMs) {
            builder = builder.withServerTimeout(options.serverTimeoutMs);
        }
        // The server runs with a 3 s client timeout (fast timers): ping well within it, as a
        // client of such a server must (the client's default is 15 s).
        builder = builder.withKeepAliveInterval(options.keepAliveMs || CLIENT_KEEP_ALIVE_MS);
        if (options.reconnect) {
            builder = builder.withAutomaticReconnect([0, 200, 500]);
        }
        const conn = builder.build();
        conn.closeCalls = [];
        conn.closed = new Promise((resolve) => {
            conn.onclose((error) => {
                conn.closeCalls.push(error);
                resolve(error);
            });
        });
        this.connections.push(conn);
        if (options.start !== false) {
            await within(conn.start(), WAIT_MS, `start() of ${tag}`);
        }
        return conn;
    }

    async cleanup() {
        await Promise.all(this.connections.map((c) =>
            within(c.stop(), WAIT_MS, "stop()").catch((e) => this.logs.push(`[cleanup] stop failed: ${errorText(e)}`))));
    }
}

/** One check; `body(ctx)` throws to fail. */
async function check(combo, name, body, timeoutMs = CHECK_TIMEOUT_MS) {
    const full = combo ? `${combo.name}: ${name}` : name;
    if (only && !only.test(full)) {
        return;
    }
    if (listOnly) {
        console.log(full);
        return;
    }
    const ctx = new Ctx(combo || COMBOS[0]);
    const started = Date.now();
    let error;
    try {
        await within(body(ctx), timeoutMs, `the whole check (${timeoutMs} ms)`);
    } catch (e) {
        error = e;
    }
    await ctx.cleanup();
    const ms = Date.now() - started;
    if (error === undefined) {
        results.push({ name: full, ok: true });
        console.log(`ok - ${full} (${ms} ms)`);
    } else {
        results.push({ name: full, ok: false });
        console.log(`not ok - ${full}: ${errorText(error)}`);
        for (const line of ctx.logs.slice(-40)) {
            console.log(`#   ${line}`);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The combinations

const COMBOS = [];
for (const [protocolName, makeProtocol] of [
    ["json", () => new signalR.JsonHubProtocol()],
    ["messagepack", () => new MessagePackHubProtocol()],
]) {
    for (const skipNegotiation of [false, true]) {
        COMBOS.push({
            name: `WebSockets/${protocolName}${skipNegotiation ? "/skipNegotiation" : ""}`,
            transport: "WebSockets",
            protocolName,
            makeProtocol,
            skipNegotiation,
            msgpack: protocolName === "messagepack",
        });
    }
    // The other transports, as Microsoft's functional tests combine them (no MessagePack over
    // Server-Sent Events: SSE carries text only).
    for (const transport of ["ServerSentEvents", "LongPolling"]) {
        if (transport === "ServerSentEvents" && protocolName === "messagepack") {
            continue;
        }
        COMBOS.push({
            name: `${transport}/${protocolName}`,
            transport,
            protocolName,
            makeProtocol,
            skipNegotiation: false,
            msgpack: protocolName === "messagepack",
        });
    }
}

/** The server-side connection id of `conn`; with negotiation it must be `conn.connectionId`. */
async function serverId(conn, method = "GetCallerConnectionId") {
    return within(conn.invoke(method), WAIT_MS, method);
}

// ---------------------------------------------------------------------------------------------
// The checks of one combination

async function comboChecks(c) {
    await check(c, "connection id: GetCallerConnectionId vs connection.connectionId", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const id = await serverId(conn);
        assert.equal(typeof id, "string");
        assert.match(id, /^[A-Za-z0-9_-]{22}$/, "server connection id");
        if (c.skipNegotiation) {
            assert.equal(conn.connectionId, null, "connectionId stays null when negotiation is skipped");
        } else {
            assert.equal(conn.connectionId, id, "connection.connectionId equals the hub's Context.ConnectionId");
        }
        assert.equal(await within(conn.invoke("GetActiveTransportName"), WAIT_MS, "GetActiveTransportName"), c.transport);
        // The establishing request's headers reach the hub: Node's client sends User-Agent.
        const ua = await within(conn.invoke("GetHeader", "User-Agent"), WAIT_MS, "GetHeader");
        const [major, minor] = signalR.VERSION.split(".");
        assert.equal(typeof ua, "string", `User-Agent: ${show(ua)}`);
        assert.ok(ua.startsWith(`Microsoft SignalR/${major}.${minor} (${signalR.VERSION}; `), `User-Agent: ${show(ua)}`);
        assert.equal(await within(conn.invoke("GetHeader", "X-No-Such-Header"), WAIT_MS, "GetHeader"), null);
    });

    await check(c, "invoke TestHub Echo (strings)", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        // The last one is close to the 32 KB MaximumReceiveMessageSize.
        for (const s of ["hello", "", "你好，世界！", "emoji 🎉 and \u0000 nul", "x".repeat(10000), "y".repeat(32000)]) {
            const r = await within(conn.invoke("Echo", s), WAIT_MS, `Echo(${show(s.slice(0, 20))})`);
            assert.equal(r, s, `Echo(${show(s.slice(0, 40))})`);
        }
        // Server method names are case-insensitive.
        assert.equal(await within(conn.invoke("eCHO", "case"), WAIT_MS, "eCHO"), "case");
    });

    await check(c, "invoke conformance Echo (numbers, booleans, null)", async (ctx) => {
        const conn = await ctx.connect("/conformance");
        const values = [0, 1, -1, 42, -7, 127, 128, 255, 256, 65535, 65536, 2147483647, -2147483648,
            2147483648, -2147483649, 4294967296, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
            1.5, -0.25, 3.141592653589793, 1e-7, 1e300, true, false, null];
        for (const v of values) {
            const r = await within(conn.invoke("Echo", v), WAIT_MS, `Echo(${show(v)})`);
            assert.equal(r, v, `Echo(${show(v)}) returned ${show(r)}`);
        }
        assert.equal(await within(conn.invoke("Add", 2, 40), WAIT_MS, "Add"), 42, "Add(2, 40)");
        if (c.msgpack) {
            // bin and timestamp (ext -1) survive a round trip through an `object` parameter.
            const bin = await within(conn.invoke("Echo", new Uint8Array([0, 1, 127, 128, 255])), WAIT_MS, "Echo(bin)");
            assert.ok(bin instanceof Uint8Array, `Echo(bin) returned ${show(bin)}`);
            assert.deepStrictEqual(Array.from(bin), [0, 1, 127, 128, 255]);
            const when = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
            const date = await within(conn.invoke("Echo", when), WAIT_MS, "Echo(Date)");
            assert.ok(date instanceof Date, `Echo(Date) returned ${show(date)}`);
            assert.equal(date.getTime(), when.getTime());
        }
    });

    await check(c, "invoke conformance Echo (objects and arrays)", async (ctx) => {
        const conn = await ctx.connect("/conformance");
        const values = [
            {},
            [],
            { a: 1, b: "two", c: [1, 2, { d: null }], e: true, f: { g: { h: [] } } },
            [1, "a", null, false, [2, [3]], { k: "v" }],
            { "你好": "世界", "": "empty key", PascalCase: 1, camelCase: 2 },
        ];
        for (const v of values) {
            const r = await within(conn.invoke("Echo", v), WAIT_MS, `Echo(${show(v)})`);
            assert.deepStrictEqual(r, v, `Echo(${show(v)})`);
        }
        // TestHub: CustomObject round trip through a .NET class (PascalCase properties).
        const t = await ctx.connect("/testhub");
        const got = nextCall(t, "CustomObject");
        await within(t.send("SendCustomObject", { Name: "test", Value: 42 }), WAIT_MS, "send SendCustomObject");
        const [obj] = await within(got, WAIT_MS, "CustomObject");
        assert.deepStrictEqual(obj, { Name: "test", Value: 42 });
    });

    await check(c, "send (fire-and-forget) reaches the hub", async (ctx) => {
        const t = await ctx.connect("/testhub");
        // Client method names are case-insensitive: the server calls "Message".
        const msg = nextCall(t, "mEssage");
        await within(t.send("InvokeWithString", "你好 SignalR！"), WAIT_MS, "send InvokeWithString");
        assert.deepStrictEqual(await within(msg, WAIT_MS, "Message from InvokeWithString"), ["你好 SignalR！"]);
        // send of a method with a result: no Completion comes back, the connection carries on.
        await within(t.send("Echo", "ignored"), WAIT_MS, "send Echo");
        assert.equal(await within(t.invoke("Echo", "after"), WAIT_MS, "Echo after send"), "after");

        const conf = await ctx.connect("/conformance");
        const group = unique("send");
        await within(conf.send("JoinGroup", group), WAIT_MS, "send JoinGroup");
        const got = nextCall(conf, "sendCheck");
        await within(conf.invoke("SendToGroup", group, "sendCheck", { joined: true }), WAIT_MS, "SendToGroup");
        assert.deepStrictEqual(await within(got, WAIT_MS, "sendCheck (JoinGroup sent with send() took effect)"), [{ joined: true }]);
    });

    await check(c, "broadcast: SendToAll and SendToOthers", async (ctx) => {
        const sender = await ctx.connect("/conformance");
        const other = await ctx.connect("/conformance");
        const rs = recorder(sender, "bcast");
        const ro = recorder(other, "bcast");
        await within(sender.invoke("SendToAll", "bcast", "all"), WAIT_MS, "SendToAll");
        await within(sender.invoke("SendToOthers", "bcast", "others"), WAIT_MS, "SendToOthers");
        await within(sender.invoke("SendToCaller", "bcast", "marker"), WAIT_MS, "SendToCaller");
        await within(sender.invoke("SendToConnection", await serverId(other, "GetConnectionId"), "bcast", "marker"), WAIT_MS, "SendToConnection");
        await rs.got("marker", WAIT_MS, "marker at the sender");
        await ro.got("marker", WAIT_MS, "marker at the other connection");
        assert.deepStrictEqual(rs.calls, [["all"], ["marker"]], "the sender gets SendToAll but not SendToOthers");
        assert.deepStrictEqual(ro.calls, [["all"], ["others"], ["marker"]], "the other connection gets both");
    });

    await check(c, "invocations of one connection run one at a time", async (ctx) => {
        // MaximumParallelInvocationsPerClient = 1 (the default): a quick invocation sent after a
        // slow one completes after it.
        const conn = await ctx.connect("/conformance");
        const order = [];
        const slow = conn.invoke("Delay", 300, "slow").then((v) => order.push(v));
        const fast = conn.invoke("Echo", "fast").then((v) => order.push(v));
        await within(Promise.all([slow, fast]), WAIT_MS, "Delay and Echo");
        assert.deepStrictEqual(order, ["slow", "fast"]);
    });

    await check(c, "server-to-client stream: conformance Counter", async (ctx) => {
        const conn = await ctx.connect("/conformance");
        const r = await collect(conn.stream("Counter", 5, 10), WAIT_MS, "Counter(5, 10)");
        assert.equal(r.error, undefined, `stream error: ${r.error && r.error.message}`);
        assert.deepStrictEqual(r.items, [0, 1, 2, 3, 4]);
        const empty = await collect(conn.stream("Counter", 0, 0), WAIT_MS, "Counter(0, 0)");
        assert.equal(empty.error, undefined);
        assert.deepStrictEqual(empty.items, []);
    });

    await check(c, "server-to-client stream: TestHub Stream", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const r = await collect(conn.stream("Stream"), WAIT_MS, "Stream()");
        assert.equal(r.error, undefined, `stream error: ${r.error && r.error.message}`);
        assert.deepStrictEqual(r.items, ["a", "b", "c"]);
        const e = await collect(conn.stream("EmptyStream"), WAIT_MS, "EmptyStream()");
        assert.equal(e.error, undefined);
        assert.deepStrictEqual(e.items, []);
    });

    for (const path of ["/testhub", "/conformance"]) {
        await check(c, `cancel: InfiniteStream on ${path} then dispose -> StreamCanceled`, async (ctx) => {
            const conn = await ctx.connect(path);
            const canceled = nextCall(conn, "StreamCanceled");
            const events = [];
            const sub = conn.stream("InfiniteStream").subscribe({
                next: (i) => events.push(["next", i]),
                complete: () => events.push(["complete"]),
                error: (e) => events.push(["error", e.message]),
            });
            sub.dispose();
            assert.deepStrictEqual(await within(canceled, WAIT_MS, "StreamCanceled"), []);
            // The connection is still usable, and the subscriber saw nothing.
            assert.equal(await within(conn.invoke("Echo", "still here"), WAIT_MS, "Echo"), "still here");
            assert.deepStrictEqual(events, []);
        });
    }

    await check(c, "client-to-server stream: StreamingConcat", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const subject = new signalR.Subject();
        const result = conn.invoke("StreamingConcat", subject);
        subject.next("Hello ");
        subject.next("world");
        subject.next("!");
        subject.complete();
        assert.equal(await within(result, WAIT_MS, "StreamingConcat result"), "Hello world!");

        // Items sent later (after the invocation is on the wire) count too.
        const s2 = new signalR.Subject();
        const r2 = conn.invoke("StreamingConcat", s2);
        await delay(20);
        s2.next("你好");
        await delay(20);
        s2.next("，世界！");
        s2.complete();
        assert.equal(await within(r2, WAIT_MS, "StreamingConcat result (delayed items)"), "你好，世界！");

        // An empty upload.
        const s3 = new signalR.Subject();
        const r3 = conn.invoke("StreamingConcat", s3);
        s3.complete();
        assert.equal(await within(r3, WAIT_MS, "StreamingConcat result (no items)"), "");
    });

    await check(c, "client-to-server stream: StreamingConcat completed with an error", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const subject = new signalR.Subject();
        const result = conn.invoke("StreamingConcat", subject);
        subject.next("Hello ");
        subject.next("world");
        subject.next("!");
        subject.error(new Error("Something bad"));
        const message = await rejection(result, "StreamingConcat with error");
        assert.equal(message, "An unexpected error occurred invoking 'StreamingConcat' on the server. HubException: Something bad");
        assert.equal(await within(conn.invoke("Echo", "ok"), WAIT_MS, "Echo after"), "ok");
    });

    /**
     * Sends "marker" to every recorder's connection (one SendToConnections from `via`) and waits
     * until each got it. A connection's messages arrive in order, so whatever was sent to it
     * before the marker has arrived by then: no open-ended wait for "nothing else arrives".
     */
    async function markAll(via, target, recs) {
        const ids = [];
        for (const r of recs) {
            ids.push(await serverId(r.conn, "GetConnectionId"));
        }
        await within(via.invoke("SendToConnections", ids, target, "marker"), WAIT_MS, "SendToConnections marker");
        for (const [i, r] of recs.entries()) {
            await r.until(() => r.calls.filter((a) => a[0] === "marker").length >= r.markers + 1, WAIT_MS, `marker at connection ${i + 1}`);
            r.markers++;
        }
    }
    function rec(conn, target) {
        const r = recorder(conn, target);
        r.conn = conn;
        r.markers = 0;
        return r;
    }

    await check(c, "groups: SendToGroup reaches members only", async (ctx) => {
        const sender = await ctx.connect("/conformance");
        const member = await ctx.connect("/conformance");
        const member2 = await ctx.connect("/conformance");
        const outsider = await ctx.connect("/conformance");
        const group = unique("group");
        const [rs, rm, rm2, ro] = [sender, member, member2, outsider].map((x) => rec(x, "groupMsg"));
        await within(member.invoke("JoinGroup", group), WAIT_MS, "JoinGroup");
        await within(member2.invoke("JoinGroup", group), WAIT_MS, "JoinGroup (2)");
        // Joining twice is harmless (one delivery).
        await within(member2.invoke("JoinGroup", group), WAIT_MS, "JoinGroup (2, again)");
        const payload = { text: "to the group", n: [1, 2, 3] };
        await within(sender.invoke("SendToGroup", group, "groupMsg", payload), WAIT_MS, "SendToGroup");
        await markAll(sender, "groupMsg", [rs, rm, rm2, ro]);
        assert.deepStrictEqual(rm.calls, [[payload], ["marker"]], "member");
        assert.deepStrictEqual(rm2.calls, [[payload], ["marker"]], "member 2");
        assert.deepStrictEqual(ro.calls, [["marker"]], "non-member must not get the group message");
        assert.deepStrictEqual(rs.calls, [["marker"]], "the (non-member) sender must not get the group message");

        // After LeaveGroup the former member gets nothing more.
        await within(member2.invoke("LeaveGroup", group), WAIT_MS, "LeaveGroup");
        await within(sender.invoke("SendToGroup", group, "groupMsg", "second"), WAIT_MS, "SendToGroup (2)");
        await markAll(sender, "groupMsg", [rm, rm2]);
        assert.deepStrictEqual(rm.calls, [[payload], ["marker"], ["second"], ["marker"]], "member");
        assert.deepStrictEqual(rm2.calls, [[payload], ["marker"], ["marker"]], "member 2 after LeaveGroup");
    });

    await check(c, "users: tokens from /contract/token, SendToUser", async (ctx) => {
        const alice = unique("alice");
        const bob = unique("bob");
        const aliceToken = await contractToken(alice);
        const bobToken = await contractToken(bob);
        const a1 = await ctx.connect("/conformance", { accessTokenFactory: () => aliceToken });
        const a2 = await ctx.connect("/conformance", { accessTokenFactory: () => Promise.resolve(aliceToken) });
        const b = await ctx.connect("/conformance", { accessTokenFactory: () => bobToken });
        const anon = await ctx.connect("/conformance");
        assert.equal(await within(a1.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), alice);
        assert.equal(await within(a2.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), alice);
        assert.equal(await within(b.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), bob);
        assert.equal(await within(anon.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), null);
        const [r1, r2, rb, ranon] = [a1, a2, b, anon].map((x) => rec(x, "userMsg"));
        await within(b.invoke("SendToUser", alice, "userMsg", "hi alice"), WAIT_MS, "SendToUser");
        await markAll(b, "userMsg", [r1, r2, rb, ranon]);
        assert.deepStrictEqual(r1.calls, [["hi alice"], ["marker"]], "alice #1");
        assert.deepStrictEqual(r2.calls, [["hi alice"], ["marker"]], "alice #2");
        assert.deepStrictEqual(rb.calls, [["marker"]], "bob must not get alice's message");
        assert.deepStrictEqual(ranon.calls, [["marker"]], "anonymous must not get alice's message");
        // [Authorize] hub method.
        assert.equal(await within(a1.invoke("Authorized"), WAIT_MS, "Authorized"), alice);
        const msg = await rejection(anon.invoke("Authorized"), "Authorized without a user");
        assert.equal(msg, "Failed to invoke 'Authorized' because user is unauthorized");
    });

    await check(c, "client results: InvokeCaller", async (ctx) => {
        const conn = await ctx.connect("/conformance");
        conn.on("GetValue", () => 42);
        conn.on("GetObject", (x, y) => ({ sum: x + y, list: [x, y], nested: { ok: true } }));
        conn.on("GetAsync", async () => {
            await delay(30);
            return "later";
        });
        conn.on("Fail", () => {
            throw new Error("boom");
        });
        conn.on("GetNothing", () => undefined);
        const inv = (...a) => within(conn.invoke("InvokeCaller", ...a), WAIT_MS, `InvokeCaller(${show(a)})`);
        assert.equal(await inv("GetValue", [], 5000), 42);
        assert.deepStrictEqual(await inv("GetObject", [2, 3], 5000), { sum: 5, list: [2, 3], nested: { ok: true } });
        assert.equal(await inv("GetAsync", [], 5000), "later");
        const prefix = "An unexpected error occurred invoking 'InvokeCaller' on the server. HubException: ";
        assert.equal(await rejection(conn.invoke("InvokeCaller", "Fail", [], 5000), "InvokeCaller(Fail)"), `${prefix}Error: boom`);
        assert.equal(await rejection(conn.invoke("InvokeCaller", "NoSuchHandler", [], 5000), "InvokeCaller(NoSuchHandler)"),
            `${prefix}Client didn't provide a result.`);
        assert.equal(await rejection(conn.invoke("InvokeCaller", "GetNothing", [], 5000), "InvokeCaller(GetNothing)"),
            `${prefix}Client didn't provide a result.`);
        // The connection still works after the failed client results.
        assert.equal(await inv("GetValue", [], 5000), 42);
    });

    await check(c, "client results: TestHub /clientresult/{connectionId}", async (ctx) => {
        const withResult = await ctx.connect("/testhub");
        withResult.on("Result", () => 10);
        const throwing = await ctx.connect("/testhub");
        throwing.on("Result", () => {
            throw new Error("from callback");
        });
        const without = await ctx.connect("/testhub");
        for (const [conn, expected] of [[withResult, "10"], [throwing, "Error: from callback"], [without, "Client didn't provide a result."]]) {
            const id = c.skipNegotiation ? await serverId(conn) : conn.connectionId;
            const r = await httpGet(`/clientresult/${id}`, `GET /clientresult/${id}`);
            assert.equal(r.status, 200, `status of /clientresult (body ${show(r.body)})`);
            assert.equal(r.body, expected);
        }
    });

    await check(c, "error texts", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        assert.equal(await rejection(conn.invoke("ThrowException", "An error occurred."), "ThrowException"),
            "An unexpected error occurred invoking 'ThrowException' on the server. InvalidOperationException: An error occurred.");
        assert.equal(await rejection(conn.invoke("EmptyStream"), "invoke EmptyStream"),
            "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation.");
        assert.equal(await rejection(conn.invoke("Stream"), "invoke Stream"),
            "The client attempted to invoke the streaming 'Stream' method with a non-streaming invocation.");
        const s = await collect(conn.stream("Echo", "42"), WAIT_MS, "stream Echo");
        assert.deepStrictEqual(s.items, []);
        assert.ok(s.error, "stream(\"Echo\") must fail");
        assert.equal(s.error.message, "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.");
        const t = await collect(conn.stream("StreamThrowException", "An error occurred."), WAIT_MS, "stream StreamThrowException");
        assert.deepStrictEqual(t.items, []);
        assert.ok(t.error, "StreamThrowException must fail");
        assert.equal(t.error.message, "An unexpected error occurred invoking 'StreamThrowException' on the server. InvalidOperationException: An error occurred.");
        assert.equal(await rejection(conn.invoke("NoSuchMethod"), "NoSuchMethod"),
            "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.");
        // The connection survives all of it.
        assert.equal(await within(conn.invoke("Echo", "alive"), WAIT_MS, "Echo"), "alive");
    });

    await check(c, "SendComplexObject / EchoComplexObject types", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const v = await within(conn.invoke("SendComplexObject"), WAIT_MS, "SendComplexObject");
        const expected = {
            ByteArray: c.msgpack ? new Uint8Array([1, 2, 3]) : "AQID",
            DateTime: c.msgpack ? new Date(Date.UTC(2000, 0, 1)) : "2000-01-01T00:00:00Z",
            Guid: "00010203-0405-0607-0706-050403020100",
            IntArray: [1, 2, 3],
            String: "hello world",
        };
        if (c.msgpack) {
            assert.ok(v.ByteArray instanceof Uint8Array, `ByteArray must be a Uint8Array, got ${show(v.ByteArray)}`);
            assert.ok(v.DateTime instanceof Date, `DateTime must be a Date, got ${show(v.DateTime)}`);
            assert.equal(v.DateTime.toISOString(), "2000-01-01T00:00:00.000Z");
            v.ByteArray = new Uint8Array(v.ByteArray);
        }
        assert.deepStrictEqual(v, expected);

        const input = {
            ByteArray: c.msgpack ? new Uint8Array([0x68, 0x65, 0x6c, 0x6c, 0x6f]) : "aGVsbG8=",
            DateTime: c.msgpack ? new Date(Date.UTC(2002, 3, 1, 10, 20, 15)) : "2002-04-01T10:20:15Z",
            Guid: "00010203-0405-0607-0706-050403020100",
            IntArray: [0x01, 0x02, 0x03, 0xff],
            String: "Hello, World!",
        };
        const e = await within(conn.invoke("EchoComplexObject", input), WAIT_MS, "EchoComplexObject");
        if (c.msgpack) {
            assert.ok(e.ByteArray instanceof Uint8Array, `ByteArray must be a Uint8Array, got ${show(e.ByteArray)}`);
            assert.ok(e.DateTime instanceof Date, `DateTime must be a Date, got ${show(e.DateTime)}`);
            e.ByteArray = new Uint8Array(e.ByteArray);
        }
        assert.deepStrictEqual(e, input);
    });

    await check(c, "cookies: GetCookie(\"expiredCookie\") is null", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const v = await within(conn.invoke("GetCookie", "expiredCookie"), WAIT_MS, "GetCookie");
        assert.strictEqual(v, null, `expected null (a "result":null completion), got ${show(v)}`);
        if (!c.skipNegotiation) {
            // Node's client keeps negotiate's cookies (tough-cookie jar) for the WebSocket.
            assert.equal(await within(conn.invoke("GetCookie", "testCookie"), WAIT_MS, "GetCookie"), "testValue");
            assert.equal(await within(conn.invoke("GetCookie", "testCookie2"), WAIT_MS, "GetCookie"), "testValue2");
        }
    });

    await check(c, "authorizedhub with a token from /generateJwtToken", async (ctx) => {
        const r = await httpGet("/generateJwtToken", "GET /generateJwtToken");
        assert.equal(r.status, 200);
        const token = r.body;
        const conn = await ctx.connect("/authorizedhub", { accessTokenFactory: () => token });
        assert.equal(await within(conn.invoke("Echo", "你好，世界！"), WAIT_MS, "Echo"), "你好，世界！");
        assert.equal(await within(conn.invoke("GetUserNameIdentifier"), WAIT_MS, "GetUserNameIdentifier"), "testuser");
        await within(conn.stop(), WAIT_MS, "stop()");
        assert.equal(await within(conn.closed, WAIT_MS, "onclose"), undefined, "onclose error");
    });

    await check(c, "authhub: accessTokenFactory, and a refreshed token after the token expires and the client reconnects", async (ctx) => {
        // The contract's authorized hub closes a connection when its token expires (mock-hub
        // with close_on_authentication_expiration): Close {allowReconnect: true}, upon which the
        // client reconnects and must ask accessTokenFactory again, using the fresh token.
        const prefix = unique("refresh");
        const short = (await httpGet(`/contract/token?user=${prefix}-1&lifetimeSeconds=3`, "short-lived token")).body;
        const fresh = await contractToken(`${prefix}-2`);
        let phase = 1;
        const calls = { 1: 0, 2: 0 };
        const factory = () => {
            calls[phase]++;
            return Promise.resolve(phase === 1 ? short : fresh);
        };
        const conn = await ctx.connect("/authhub", { accessTokenFactory: factory, reconnect: true });
        const reconnecting = new Promise((resolve) => conn.onreconnecting((e) => {
            phase = 2;
            resolve(e);
        }));
        const reconnected = new Promise((resolve) => conn.onreconnected(() => resolve()));
        assert.ok(calls[1] >= 1, "accessTokenFactory was not called to connect");
        assert.equal(await within(conn.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), `${prefix}-1`);
        const error = await within(reconnecting, WAIT_MS, "onreconnecting when the token expires");
        assert.equal(error, undefined, `onreconnecting error: ${error && error.message}`);
        await within(reconnected, WAIT_MS, "onreconnected");
        assert.ok(calls[2] >= 1, "accessTokenFactory was not asked again for the reconnect");
        assert.equal(await within(conn.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier after reconnect"), `${prefix}-2`);
        assert.equal(await rejection(conn.invoke("AdminOnly"), "AdminOnly without the role"),
            "Failed to invoke 'AdminOnly' because user is unauthorized");
    }, 3 * WAIT_MS);

    if (!c.skipNegotiation) {
        await check(c, "negotiate redirect chain: the client uses each redirect's accessToken, not its own", async (ctx) => {
            // /contract/redirect answers {url, accessToken}; every hop after the first refuses
            // any token but the one the previous hop issued, and the last hop leads to /authhub.
            const user = unique("redirected");
            const mine = await contractToken(unique("someone-else"));
            const conn = await ctx.connect(`/contract/redirect?user=${user}&hops=3`, { accessTokenFactory: () => mine });
            assert.equal(await within(conn.invoke("GetUserIdentifier"), WAIT_MS, "GetUserIdentifier"), user);
            assert.equal(await within(conn.invoke("Echo", "through the chain"), WAIT_MS, "Echo"), "through the chain");
        });
    }

    await check(c, "authorizedhub without a token: start() rejects", async (ctx) => {
        const conn = await ctx.connect("/authorizedhub", { start: false });
        const message = await rejection(conn.start(), "start() without a token");
        if (c.skipNegotiation) {
            // No negotiate: the WebSocket upgrade itself is refused (401), which the client
            // reports as a failed WebSocket connect.
            assert.equal(message, "WebSocket failed to connect. The connection could not be found on the server, either the endpoint may not be a SignalR endpoint, the connection ID is not present on the server, or there is a proxy blocking WebSockets. If you have multiple servers check that sticky sessions are enabled.");
            // That text does not say why: the upgrade itself must be refused with 401.
            assert.equal(await upgradeStatus("/authorizedhub"), 401, "status of a WebSocket upgrade without a token");
        } else {
            assert.equal(message, "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'");
        }
        assert.equal(conn.state, signalR.HubConnectionState.Disconnected);
    });

    await check(c, "stop() closes cleanly", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        assert.equal(conn.state, signalR.HubConnectionState.Connected);
        assert.equal(await within(conn.invoke("Echo", "x"), WAIT_MS, "Echo"), "x");
        await within(conn.stop(), WAIT_MS, "stop()");
        const error = await within(conn.closed, WAIT_MS, "onclose");
        assert.equal(error, undefined, `onclose error: ${error && error.message}`);
        assert.equal(conn.state, signalR.HubConnectionState.Disconnected);
        assert.equal(conn.connectionId, null);
        await delay(50);
        assert.equal(conn.closeCalls.length, 1, "onclose called once");
        // And it can be started again.
        await within(conn.start(), WAIT_MS, "start() again");
        assert.equal(await within(conn.invoke("Echo", "again"), WAIT_MS, "Echo"), "again");
    });

    await check(c, "server close: Abort ends the connection without reconnecting", async (ctx) => {
        // Context.Abort() sends Close with allowReconnect=false: an auto-reconnecting client stops.
        const conn = await ctx.connect("/conformance", { reconnect: true });
        let reconnecting = 0;
        conn.onreconnecting(() => reconnecting++);
        await within(conn.send("Abort"), WAIT_MS, "send Abort");
        const error = await within(conn.closed, WAIT_MS, "onclose after Abort");
        assert.equal(error, undefined, `onclose error: ${error && error.message}`);
        assert.equal(reconnecting, 0, "onreconnecting must not fire (allowReconnect=false)");
        assert.equal(conn.state, signalR.HubConnectionState.Disconnected);
    });

    await check(c, "server close: RequestClose lets the client reconnect", async (ctx) => {
        // A server-requested graceful close sends Close with allowReconnect=true.
        const conn = await ctx.connect("/conformance", { reconnect: true });
        const before = await serverId(conn, "GetConnectionId");
        const reconnecting = new Promise((resolve) => conn.onreconnecting((e) => resolve(e)));
        const reconnected = new Promise((resolve) => conn.onreconnected(() => resolve()));
        await within(conn.send("RequestClose"), WAIT_MS, "send RequestClose");
        const error = await within(reconnecting, WAIT_MS, "onreconnecting after RequestClose");
        assert.equal(error, undefined, `onreconnecting error: ${error && error.message}`);
        await within(reconnected, WAIT_MS, "onreconnected");
        assert.notEqual(await serverId(conn, "GetConnectionId"), before);
        assert.deepStrictEqual(conn.closeCalls, [], "onclose must not fire");
    });

    await check(c, "UncreatableHub: the connection fails with the server's Close error", async (ctx) => {
        const expected = "Server returned an error on close: Connection closed with an error. InvalidOperationException: Unable to resolve service for type 'System.Object' while attempting to activate 'FunctionalTests.UncreatableHub'.";
        const conn = await ctx.connect("/uncreatable", { start: false });
        // Either start() fails or onclose reports the error (HubConnectionTests.ts).
        let message;
        try {
            await within(conn.start(), WAIT_MS, "start()");
            const error = await within(conn.closed, WAIT_MS, "onclose");
            message = error && error.message;
        } catch (e) {
            if (e instanceof TimeoutError) {
                throw e;
            }
            message = e.message;
        }
        assert.equal(message, expected);
    });

    await check(c, "a message over MaximumReceiveMessageSize (32 KB) closes the connection", async (ctx) => {
        const conn = await ctx.connect("/testhub");
        const expected = "Server returned an error on close: Connection closed with an error. InvalidDataException: The maximum message size of 32768B was exceeded. The message size can be configured in AddHubOptions.";
        const message = await rejection(conn.invoke("Echo", "z".repeat(40000)), "Echo of 40000 characters");
        assert.equal(message, expected, "invoke error");
        const error = await within(conn.closed, WAIT_MS, "onclose");
        assert.equal(error && error.message, expected, "onclose error");
    });

    await check(c, "reconnect after a client-side server timeout", async (ctx) => {
        const conn = await ctx.connect("/testhub", { reconnect: true });
        const before = await serverId(conn);
        const reconnected = new Promise((resolve) => conn.onreconnected((id) => resolve(id)));
        // What HubConnectionTests.ts does to induce a reconnect.
        conn.serverTimeout();
        const id = await within(reconnected, WAIT_MS, "onreconnected");
        const after = await serverId(conn);
        assert.notEqual(after, before, "a new connection id after reconnecting");
        if (c.skipNegotiation) {
            assert.equal(id, undefined, "onreconnected id without negotiation");
        } else {
            assert.equal(id, after, "onreconnected id is the server's new connection id");
        }
        assert.equal(await within(conn.invoke("Echo", "test"), WAIT_MS, "Echo"), "test");
    });

    const kaWindow = 4 * SERVER_KEEP_ALIVE_MS + 500;
    await check(c, `keep-alive: server pings keep a client with a ${SERVER_KEEP_ALIVE_MS + 500} ms server timeout connected`, async (ctx) => {
        const { protocol, counter } = pingCounting(c.makeProtocol());
        const conn = await ctx.connect("/testhub", {
            protocol,
            serverTimeoutMs: SERVER_KEEP_ALIVE_MS + 500,
            // The client pings too, which arms the server's client timeout (3 s).
            keepAliveMs: 500,
        });
        const outcome = await Promise.race([
            conn.closed.then((error) => ({ closed: true, error })),
            delay(kaWindow).then(() => ({ closed: false })),
        ]);
        if (outcome.closed) {
            assert.fail(`connection closed after ${counter.pings} ping(s): ${outcome.error ? outcome.error.message : "no error"}`);
        }
        assert.equal(conn.state, signalR.HubConnectionState.Connected);
        if (c.transport === "LongPolling") {
            // Long Polling keeps itself alive: the server sends no hub Pings on it.
            assert.equal(counter.pings, 0, "server pings over Long Polling");
        } else {
            assert.ok(counter.pings >= 3, `expected at least 3 server pings in ${kaWindow} ms, got ${counter.pings}`);
        }
        assert.equal(await within(conn.invoke("Echo", "alive"), WAIT_MS, "Echo"), "alive");
    }, kaWindow + 3 * WAIT_MS);
}

// ---------------------------------------------------------------------------------------------

async function main() {
    let unhandled = 0;
    process.on("unhandledRejection", (e) => {
        unhandled++;
        console.log(`# unhandled rejection: ${errorText(e)}`);
    });
    const started = Date.now();
    if (!listOnly) {
        const msgpackVersion = require("@microsoft/signalr-protocol-msgpack/package.json").version;
        console.log(`# @microsoft/signalr ${signalR.VERSION}, @microsoft/signalr-protocol-msgpack ${msgpackVersion}, node ${process.version}, server ${baseUrl}`);
    }
    for (const c of COMBOS) {
        await comboChecks(c);
    }
    if (listOnly) {
        return 0;
    }
    if (unhandled > 0) {
        results.push({ name: "no unhandled rejections", ok: false });
        console.log(`not ok - no unhandled rejections: ${unhandled}`);
    }
    const failed = results.filter((r) => !r.ok);
    console.log(`# ${results.length} checks, ${results.length - failed.length} passed, ${failed.length} failed (${Date.now() - started} ms)`);
    if (results.length === 0) {
        console.log("not ok - no check selected");
        return 1;
    }
    for (const f of failed) {
        console.log(`# FAILED: ${f.name}`);
    }
    return failed.length === 0 ? 0 : 1;
}

main().then(
    (code) => {
        process.exitCode = code;
        // Sockets the client may leave behind must not keep the process alive.
        setTimeout(() => process.exit(code), 200).unref();
    },
    (e) => {
        console.log(`not ok - harness: ${errorText(e)}`);
        process.exit(1);
    },
);
