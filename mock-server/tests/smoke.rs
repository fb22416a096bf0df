mod common;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol, Value};

#[tokio::test]
async fn echo_both_protocols() {
    let s = server(MockConfig::default()).await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&s, "conformance", p).await;
        let r = c.invoke("1", "echo", vec![Value::string("hi")]).await;
        assert_eq!(
            r,
            HubMessage::completion("1", CompletionResult::Value(Value::string("hi")))
        );
    }
    s.shutdown().await;
}
