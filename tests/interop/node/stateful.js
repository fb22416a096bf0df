#!/usr/bin/env node
// Stateful reconnect under fire: the official @microsoft/signalr client with
// withStatefulReconnect() sends numbered messages to the conformance hub's SendToCaller, which
// sends each one straight back, while the test in front of it (mock-server/tests/
// interop_reconnect.rs) cuts the WebSocket's TCP connection without a Close frame at random
// points. Every number must come back exactly once and in order: a message lost or processed
// twice in either direction shows.
//
// Usage: node stateful.js <hub-url> <json|messagepack> [drain-ms]
// Sends until a line "stop" arrives on stdin, then waits for the last echoes and prints
// `RESULT {"sent":…,"received":…,"lost":…,"duplicated":…,"outOfOrder":…,"closed":…}`;
// exit code 0 when nothing was lost, duplicated or reordered and the connection never closed.

"use strict";

const readline = require("node:readline");
const signalR = require("@microsoft/signalr");
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");

const [hubUrl, protocolName, drainArg] = process.argv.slice(2);
if (!hubUrl || !["json", "messagepack"].includes(protocolName)) {
    console.error("usage: node stateful.js <hub-url> <json|messagepack> [drain-ms]");
    process.exit(2);
}

// How long to wait for the last echoes after "stop" (they may take a few reattaches).
const DRAIN_MS = Number(drainArg || 30000);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
    const logs = [];
    const conn = new signalR.HubConnectionBuilder()
        .withUrl(hubUrl, { transport: signalR.HttpTransportType.WebSockets })
        .withHubProtocol(protocolName === "json" ? new signalR.JsonHubProtocol() : new MessagePackHubProtocol())
        .withStatefulReconnect()
        .configureLogging({ log: (level, message) => { if (level >= signalR.LogLevel.Information) logs.push(message); } })
        .build();
    const counts = new Map();
    let received = 0;
    let outOfOrder = 0;
    let last = -1;
    let waiter = null;
    conn.on("Got", (n) => {
        received++;
        counts.set(n, (counts.get(n) || 0) + 1);
        if (n !== last + 1) {
            outOfOrder++;
        }
        last = Math.max(last, n);
        if (waiter) {
            waiter();
        }
    });
    let closed = null;
    conn.onclose((e) => { closed = e || new Error("closed"); if (waiter) waiter(); });

    let stop = false;
    readline.createInterface({ input: process.stdin }).on("line", (l) => { if (l.trim() === "stop") stop = true; });

    await conn.start();
    console.log("STARTED");
    let sent = 0;
    while (!stop && closed === null) {
        await conn.send("SendToCaller", "Got", sent);
        sent++;
        if (sent % 10 === 0) {
            await sleep(2);
        }
    }
    const deadline = Date.now() + DRAIN_MS;
    while (received < sent && closed === null && Date.now() < deadline) {
        await new Promise((resolve) => { waiter = resolve; setTimeout(resolve, 200); });
        waiter = null;
    }
    let lost = 0;
    let duplicated = 0;
    for (let i = 0; i < sent; i++) {
        const c = counts.get(i) || 0;
        if (c === 0) lost++;
        if (c > 1) duplicated += c - 1;
    }
    console.log(`RESULT ${JSON.stringify({ protocol: protocolName, sent, received, lost, duplicated, outOfOrder, closed: closed ? String(closed) : null })}`);
    const ok = closed === null && lost === 0 && duplicated === 0 && outOfOrder === 0;
    if (!ok) {
        for (const l of logs.slice(-40)) console.log(`#   ${l}`);
    }
    await conn.stop().catch(() => {});
    process.exit(ok ? 0 : 1);
}

main().catch((e) => {
    console.log(`RESULT {"error":${JSON.stringify(String(e && e.stack || e))}}`);
    process.exit(1);
});
