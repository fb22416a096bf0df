use signalr_protocol::{HubMessage, HubProtocol, MessageReader, Parsed, Value};

fn main() {
    // Encode: every message type, in either protocol, framing included.
    let call = HubMessage::invoke("1", "Echo", vec![Value::from("hi"), Value::Int(42)]);
    let json = HubProtocol::Json.encode(&call);
    assert_eq!(
        json,
        b"{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"hi\",42]}\x1e"
    );
    let msgpack = HubProtocol::MessagePack.encode(&call);

    // Decode incrementally: push bytes as they arrive, take whole messages out.
    let mut reader = MessageReader::new(HubProtocol::MessagePack);
    for chunk in msgpack.chunks(3) {
        reader.push(chunk);
        while let Some(parsed) = reader.next().expect("valid MessagePack") {
            match parsed {
                Parsed::Message(msg) => assert_eq!(msg, call),
                // Arguments that could not be read, or a type from a newer protocol version.
                other => println!("not a message: {other:?}"),
            }
        }
    }
    reader.finish().expect("no message cut off");

    // Bad input is refused with ASP.NET Core's exception text.
    let err = HubProtocol::Json.parse(b"{\"type\":1}").unwrap_err();
    assert_eq!(err.to_string(), "Missing required property 'target'.");
    println!("ok");
}
