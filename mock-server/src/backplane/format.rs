//! The Redis backplane's payloads, byte for byte as ASP.NET Core's
//! `Microsoft.AspNetCore.SignalR.StackExchangeRedis` writes them (`Internal/RedisProtocol.cs`):
//! MessagePack arrays of MessagePack-CSharp's smallest encodings.
//!
//! - invocation: `[excludedIds, {protocolName: framedMessage, …}]`, and for a client result
//!   `[excludedIds, {…}, invocationId, returnChannel]`;
//! - group command: `[id, serverName, action (1 add, 2 remove), groupName, connectionId]`;
//! - ack: `[id]`;
//! - client result coming back: `[protocolName, framedCompletion]`.
//!
//! Reading follows ASP.NET Core's reader (items past the ones it reads are ignored) and is
//! bounded by the payload: every count and length is checked against the bytes that
//! are left before anything is allocated, and every problem is an error naming it.

use bytes::Bytes;

/// A decoded invocation payload. The framed messages are slices of the payload (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub(crate) excluded: Vec<String>,
    /// `(protocol name, framed message)` in payload order, unknown names included.
    pub(crate) messages: Vec<(String, Bytes)>,
    /// Present when the sender waits for a client result.
    pub(crate) result: Option<ResultRoute>,
}

/// Where a client result goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResultRoute {
    pub(crate) invocation_id: String,
    /// The channel as written in the payload (without the deployment's channel prefix).
    pub(crate) return_channel: String,
}

impl Invocation {
    /// The framed message for a protocol name, if the sender serialized one.
    pub(crate) fn message_for(&self, protocol: &str) -> Option<&Bytes> {
        self.messages
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m)
    }
}

/// Group membership actions (`GroupAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupAction {
    Add,
    Remove,
}

/// A command to add or remove a connection that lives on some node (`RedisGroupCommand`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupCommand {
    pub(crate) id: i64,
    pub(crate) server_name: String,
    pub(crate) action: GroupAction,
    pub(crate) group: String,
    pub(crate) connection_id: String,
}

/// A client result coming back (`RedisCompletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReturnedCompletion {
    pub(crate) protocol: String,
    pub(crate) completion: Bytes,
}

// ---- writing ----

fn array_header(n: usize, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xdc);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn map_header(n: usize, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xde);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn str(s: &str, out: &mut Vec<u8>) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[0xd9, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xda);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn bin(b: &[u8], out: &mut Vec<u8>) {
    let n = b.len();
    if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[0xc4, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xc5);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}

fn int(v: i64, out: &mut Vec<u8>) {
    // MessagePack-CSharp's smallest form (ids count up from 1; negatives never occur).
    match v {
        0..=0x7f => out.push(v as u8),
        0x80..=0xff => out.extend_from_slice(&[0xcc, v as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// An invocation payload: `messages` are `(protocol name, framed message)` for every protocol
/// the node has (ASP.NET Core writes every registered protocol, JSON first).
pub(crate) fn write_invocation(
    excluded: &[&str],
    messages: &[(&str, &[u8])],
    result: Option<(&str, &str)>,
) -> Vec<u8> {
    let size: usize = 16
        + excluded.iter().map(|e| e.len() + 5).sum::<usize>()
        + messages
            .iter()
            .map(|(n, m)| n.len() + m.len() + 10)
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    array_header(if result.is_some() { 4 } else { 2 }, &mut out);
    array_header(excluded.len(), &mut out);
    for e in excluded {
        str(e, &mut out);
    }
    map_header(messages.len(), &mut out);
    for (name, m) in messages {
        str(name, &mut out);
        bin(m, &mut out);
    }
    if let Some((id, channel)) = result {
        str(id, &mut out);
        str(channel, &mut out);
    }
    out
}

/// A group command payload.
pub(crate) fn write_group_command(c: &GroupCommand) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + c.server_name.len() + c.group.len() + c.connection_id.len());
    array_header(5, &mut out);
    int(c.id, &mut out);
    str(&c.server_name, &mut out);
    int(
        match c.action {
            GroupAction::Add => 1,
            GroupAction::Remove => 2,
        },
        &mut out,
    );
    str(&c.group, &mut out);
    str(&c.connection_id, &mut out);
    out
}

/// An ack payload.
pub(crate) fn write_ack(id: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    array_header(1, &mut out);
    int(id, &mut out);
    out
}

/// A returned client result: the framed Completion as `protocol` wrote it.
pub(crate) fn write_completion(protocol: &str, completion: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(completion.len() + protocol.len() + 8);
    array_header(2, &mut out);
    str(protocol, &mut out);
    bin(completion, &mut out);
    out
}

// ---- reading ----

struct Reader<'a> {
    payload: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(payload: &'a Bytes) -> Self {
        Self { payload, pos: 0 }
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let b = *self
            .payload
            .get(self.pos)
            .ok_or_else(|| format!("the payload ends before {what} (offset {})", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn be(&mut self, n: usize, what: &str) -> Result<u64, String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.payload.len());
        let Some(end) = end else {
            return Err(format!(
                "the payload ends inside {what} (offset {})",
                self.pos
            ));
        };
        let v = self.payload[self.pos..end]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        self.pos = end;
        Ok(v)
    }

    fn left(&self) -> usize {
        self.payload.len() - self.pos
    }

    /// A count of items that each take at least one byte: never more than the bytes left.
    fn checked_count(&self, n: u64, what: &str) -> Result<usize, String> {
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.left())
            .ok_or_else(|| format!("{what} claims {n} items but {} bytes are left", self.left()))
    }

    fn array(&mut self, what: &str) -> Result<usize, String> {
        let at = self.pos;
        let n = match self.byte(what)? {
            b @ 0x90..=0x9f => u64::from(b & 0x0f),
            0xdc => self.be(2, what)?,
            0xdd => self.be(4, what)?,
            b => {
                return Err(format!(
                    "expected an array for {what} at offset {at}, found 0x{b:02x}"
                ))
            }
        };
        self.checked_count(n, what)
    }

    fn map(&mut self, what: &str) -> Result<usize, String> {
        let at = self.pos;
        let n = match self.byte(what)? {
            b @ 0x80..=0x8f => u64::from(b & 0x0f),
            0xde => self.be(2, what)?,
            0xdf => self.be(4, what)?,
            b => {
                return Err(format!(
                    "expected a map for {what} at offset {at}, found 0x{b:02x}"
                ))
            }
        };
        self.checked_count(n, what)
    }

    fn raw(&mut self, n: u64, what: &str) -> Result<Bytes, String> {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.left())
            .ok_or_else(|| format!("{what} claims {n} bytes but {} are left", self.left()))?;
        let s = self.payload.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(s)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let at = self.pos;
        let n = match self.byte(what)? {
            b @ 0xa0..=0xbf => u64::from(b & 0x1f),
            0xd9 => self.be(1, what)?,
            0xda => self.be(2, what)?,
            0xdb => self.be(4, what)?,
            b => {
                return Err(format!(
                    "expected a string for {what} at offset {at}, found 0x{b:02x}"
                ))
            }
        };
        let raw = self.raw(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| format!("{what} at offset {at} is not UTF-8"))
    }

    /// A string or nil (`null` ids are written as nil).
    fn opt_string(&mut self, what: &str) -> Result<Option<String>, String> {
        if self.payload.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            return Ok(None);
        }
        self.string(what).map(Some)
    }

    fn binary(&mut self, what: &str) -> Result<Bytes, String> {
        let at = self.pos;
        let n = match self.byte(what)? {
            0xc4 => self.be(1, what)?,
            0xc5 => self.be(2, what)?,
            0xc6 => self.be(4, what)?,
            b => {
                return Err(format!(
                    "expected binary data for {what} at offset {at}, found 0x{b:02x}"
                ))
            }
        };
        self.raw(n, what)
    }

    fn integer(&mut self, what: &str) -> Result<i64, String> {
        let at = self.pos;
        let b = self.byte(what)?;
        let v: i64 = match b {
            0x00..=0x7f => i64::from(b),
            0xe0..=0xff => i64::from(b as i8),
            0xcc => self.be(1, what)? as i64,
            0xcd => self.be(2, what)? as i64,
            0xce => self.be(4, what)? as i64,
            0xcf => i64::try_from(self.be(8, what)?)
                .map_err(|_| format!("{what} at offset {at} is out of range"))?,
            0xd0 => i64::from(self.be(1, what)? as u8 as i8),
            0xd1 => i64::from(self.be(2, what)? as u16 as i16),
            0xd2 => i64::from(self.be(4, what)? as u32 as i32),
            0xd3 => self.be(8, what)? as i64,
            _ => {
                return Err(format!(
                    "expected an integer for {what} at offset {at}, found 0x{b:02x}"
                ))
            }
        };
        Ok(v)
    }
}

/// Reads an invocation payload.
pub(crate) fn read_invocation(payload: &Bytes) -> Result<Invocation, String> {
    let mut r = Reader::new(payload);
    let n = r.array("the invocation")?;
    if n < 2 {
        return Err(format!(
            "an invocation has at least 2 items, this one has {n}"
        ));
    }
    let count = r.array("the excluded connection ids")?;
    let mut excluded = Vec::with_capacity(count);
    for _ in 0..count {
        excluded.push(r.string("an excluded connection id")?);
    }
    let count = r.map("the serialized messages")?;
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.string("a protocol name")?;
        let bytes = r.binary("a serialized message")?;
        messages.push((name, bytes));
    }
    let result = if n > 2 {
        let invocation_id = r
            .opt_string("the invocation id")?
            .ok_or("a client-result invocation has no invocation id")?;
        let return_channel = r
            .opt_string("the return channel")?
            .ok_or("a client-result invocation has no return channel")?;
        Some(ResultRoute {
            invocation_id,
            return_channel,
        })
    } else {
        None
    };
    Ok(Invocation {
        excluded,
        messages,
        result,
    })
}

/// Reads a group command payload.
pub(crate) fn read_group_command(payload: &Bytes) -> Result<GroupCommand, String> {
    let mut r = Reader::new(payload);
    let n = r.array("the group command")?;
    if n < 5 {
        return Err(format!("a group command has 5 items, this one has {n}"));
    }
    let id = r.integer("the command id")?;
    let server_name = r.string("the server name")?;
    let action = match r.integer("the group action")? {
        1 => GroupAction::Add,
        2 => GroupAction::Remove,
        other => return Err(format!("unknown group action {other} (1 adds, 2 removes)")),
    };
    let group = r.string("the group name")?;
    let connection_id = r.string("the connection id")?;
    Ok(GroupCommand {
        id,
        server_name,
        action,
        group,
        connection_id,
    })
}

/// Reads an ack payload.
pub(crate) fn read_ack(payload: &Bytes) -> Result<i64, String> {
    let mut r = Reader::new(payload);
    let n = r.array("the ack")?;
    if n < 1 {
        return Err("an ack has 1 item, this one is empty".to_owned());
    }
    let id = r.integer("the ack id")?;
    Ok(id)
}

/// Reads a returned client result.
pub(crate) fn read_completion(payload: &Bytes) -> Result<ReturnedCompletion, String> {
    let mut r = Reader::new(payload);
    let n = r.array("the returned completion")?;
    if n < 2 {
        return Err(format!(
            "a returned completion has 2 items, this one has {n}"
        ));
    }
    let protocol = r.string("the protocol name")?;
    let completion = r.binary("the serialized completion")?;
    Ok(ReturnedCompletion {
        protocol,
        completion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One recorded payload of `fixtures/backplane/payloads.toml`.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fixture {
        name: String,
        kind: String,
        channel: String,
        hex: String,
        excluded: Option<Vec<String>>,
        json: Option<String>,
        messagepack: Option<String>,
        invocation_id: Option<String>,
        return_channel: Option<String>,
        id: Option<i64>,
        server: Option<String>,
        action: Option<u8>,
        group: Option<String>,
        connection: Option<String>,
        protocol: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct File {
        payload: Vec<Fixture>,
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn fixtures() -> Vec<Fixture> {
        let text = include_str!("../../../fixtures/backplane/payloads.toml");
        toml::from_str::<File>(text)
            .expect("fixtures parse")
            .payload
    }

    /// Every recorded payload decodes to what it holds, and writing that back gives the same bytes.
    #[test]
    fn recorded_payloads_read_and_write_back_byte_for_byte() {
        let all = fixtures();
        assert!(all.len() >= 20, "{} fixtures", all.len());
        for f in all {
            let raw = Bytes::from(hex(&f.hex));
            let name = &f.name;
            match f.kind.as_str() {
                "invocation" => {
                    let inv = read_invocation(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(Some(&inv.excluded), f.excluded.as_ref(), "{name}");
                    let mut json = f.json.clone().expect("json").into_bytes();
                    json.push(0x1e);
                    let msgpack = hex(f.messagepack.as_deref().expect("messagepack"));
                    assert_eq!(
                        inv.message_for("json").map(|b| b.to_vec()),
                        Some(json.clone())
                    );
                    assert_eq!(
                        inv.message_for("messagepack").map(|b| b.to_vec()),
                        Some(msgpack.clone())
                    );
                    let result = inv
                        .result
                        .as_ref()
                        .map(|r| (r.invocation_id.clone(), r.return_channel.clone()));
                    assert_eq!(
                        result,
                        f.invocation_id.clone().zip(f.return_channel.clone()),
                        "{name}"
                    );
                    assert!(
                        f.channel == "all" || f.channel.contains(':'),
                        "{name}: channel {}",
                        f.channel
                    );
                    let excluded: Vec<&str> = inv.excluded.iter().map(String::as_str).collect();
                    let written = write_invocation(
                        &excluded,
                        &[("json", &json), ("messagepack", &msgpack)],
                        result.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    );
                    assert_eq!(written, raw.to_vec(), "{name}: written back");
                }
                "group-command" => {
                    let c = read_group_command(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(Some(c.id), f.id, "{name}");
                    assert_eq!(Some(&c.server_name), f.server.as_ref(), "{name}");
                    let action = match c.action {
                        GroupAction::Add => 1,
                        GroupAction::Remove => 2,
                    };
                    assert_eq!(Some(action), f.action, "{name}");
                    assert_eq!(Some(&c.group), f.group.as_ref(), "{name}");
                    assert_eq!(Some(&c.connection_id), f.connection.as_ref(), "{name}");
                    assert_eq!(
                        write_group_command(&c),
                        raw.to_vec(),
                        "{name}: written back"
                    );
                }
                "ack" => {
                    let id = read_ack(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(Some(id), f.id, "{name}");
                    assert_eq!(write_ack(id), raw.to_vec(), "{name}: written back");
                }
                "completion" => {
                    let c = read_completion(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(Some(&c.protocol), f.protocol.as_ref(), "{name}");
                    let mut json = f.json.clone().expect("json").into_bytes();
                    json.push(0x1e);
                    assert_eq!(c.completion.to_vec(), json, "{name}");
                    assert_eq!(write_completion(&c.protocol, &json), raw.to_vec(), "{name}");
                }
                other => panic!("{name}: unknown kind {other}"),
            }
        }
    }

    /// Truncations and corruptions of recorded payloads are errors, never panics, and no
    /// count is trusted beyond the bytes that are there.
    #[test]
    fn damaged_payloads_are_errors() {
        for f in fixtures() {
            let raw = hex(&f.hex);
            for cut in 0..raw.len() {
                let p = Bytes::from(raw[..cut].to_vec());
                let r = match f.kind.as_str() {
                    "invocation" => read_invocation(&p).map(|_| ()),
                    "group-command" => read_group_command(&p).map(|_| ()),
                    "ack" => read_ack(&p).map(|_| ()),
                    _ => read_completion(&p).map(|_| ()),
                };
                assert!(r.is_err(), "{} cut at {cut} was accepted", f.name);
            }
            for i in 0..raw.len() {
                for b in [0x00, 0xc1, 0xdd, 0xdf, 0xc6, 0xff] {
                    let mut m = raw.clone();
                    m[i] = b;
                    let p = Bytes::from(m);
                    let _ = read_invocation(&p);
                    let _ = read_group_command(&p);
                    let _ = read_ack(&p);
                    let _ = read_completion(&p);
                }
            }
        }
        let huge = Bytes::from_static(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x90]);
        assert!(read_invocation(&huge).unwrap_err().contains("claims"));
        let e = read_group_command(&Bytes::from_static(&[
            0x95, 0x01, 0xa1, b's', 0x07, 0xa1, b'g', 0xa1, b'c',
        ]))
        .unwrap_err();
        assert!(e.contains("unknown group action 7"), "{e}");
        assert!(read_invocation(&Bytes::from_static(b"{\"not\":\"msgpack\"}")).is_err());
    }

    #[test]
    fn larger_ids_and_names_use_the_wider_encodings() {
        let c = GroupCommand {
            id: 300,
            server_name: "s".repeat(40),
            action: GroupAction::Remove,
            group: "g".repeat(300),
            connection_id: "c".into(),
        };
        let raw = write_group_command(&c);
        assert_eq!(&raw[..4], &[0x95, 0xcd, 0x01, 0x2c]);
        assert_eq!(read_group_command(&Bytes::from(raw)).expect("reads"), c);
        let big = vec![7u8; 70_000];
        let p = write_invocation(&[], &[("json", &big)], None);
        assert_eq!(
            &p[..9],
            &[0x92, 0x90, 0x81, 0xa4, b'j', b's', b'o', b'n', 0xc6]
        );
        let inv = read_invocation(&Bytes::from(p)).expect("reads");
        assert_eq!(inv.message_for("json").map(|b| b.len()), Some(70_000));
    }
}
