//! The custom-hub example runs end to end (the example's code, compiled into this test).

#[allow(dead_code)]
#[path = "../examples/custom_hub.rs"]
mod custom_hub;

#[tokio::test]
async fn custom_hub_example_answers_both_methods() {
    let replies = custom_hub::run().await.expect("the example runs");
    assert_eq!(
        replies,
        [
            r#"{"type":3,"invocationId":"1","result":5}"#,
            r#"{"type":1,"target":"Shouted","arguments":["HI"]}"#,
            r#"{"type":3,"invocationId":"2","result":"HI"}"#,
        ]
    );
}
