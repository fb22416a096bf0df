//! The hubs mock-hub serves and the endpoints they are mapped to.

use std::sync::Arc;

use signalr_protocol::TransportKind;

use crate::config::MockConfig;
use crate::endpoint::{Endpoint, EndpointKind};
use crate::faults::FaultSet;
use crate::hub::Hub;
use crate::lifetime::HubLifetime;
use crate::transport::SUPPORTED_TRANSPORTS;
use crate::variations::VariationSet;

pub(crate) mod conformance;
mod helpers;
pub(crate) mod testhub;

fn supported(wanted: &[TransportKind]) -> Vec<TransportKind> {
    wanted
        .iter()
        .copied()
        .filter(|t| SUPPORTED_TRANSPORTS.contains(t))
        .collect()
}

/// Every endpoint, in matching order: the built-in ones, then `extra` (hubs of the embedding
/// application) at paths not taken yet.
pub(crate) fn endpoints(
    config: &MockConfig,
    faults: FaultSet,
    extra: Vec<(String, Hub)>,
) -> Vec<Arc<Endpoint>> {
    let all = [
        TransportKind::WebSockets,
        TransportKind::ServerSentEvents,
        TransportKind::LongPolling,
    ];
    let variations = VariationSet::new(&config.variations);
    let conformance = Arc::new(conformance::hub(config));
    let test_hub = Arc::new(testhub::test_hub());
    let test_lifetime = Arc::new(HubLifetime::new(faults, variations));
    let hub = |path: &str,
               hub: Arc<Hub>,
               lifetime: Arc<HubLifetime>,
               transports: &[TransportKind],
               auth: bool,
               test_app: bool| {
        Arc::new(Endpoint {
            path: path.to_owned(),
            kind: EndpointKind::Hub { hub, lifetime },
            transports: supported(transports),
            require_auth: auth,
            close_on_auth_expiration: false,
            test_app,
            allow_stateful_reconnects: config.allow_stateful_reconnects,
        })
    };
    let mut endpoints = vec![
        hub(
            "/conformance",
            conformance,
            Arc::new(HubLifetime::new(faults, variations)),
            &all,
            false,
            false,
        ),
        Arc::new(Endpoint {
            path: "/authhub".to_owned(),
            kind: EndpointKind::Hub {
                hub: Arc::new(conformance::authorized_hub(config)),
                lifetime: Arc::new(HubLifetime::new(faults, variations)),
            },
            transports: supported(&all),
            require_auth: true,
            close_on_auth_expiration: config.close_on_authentication_expiration,
            test_app: false,
            allow_stateful_reconnects: config.allow_stateful_reconnects,
        }),
        hub(
            "/testhub",
            test_hub.clone(),
            test_lifetime.clone(),
            &all,
            false,
            true,
        ),
        hub(
            "/testhub-nowebsockets",
            test_hub,
            test_lifetime,
            &[TransportKind::ServerSentEvents, TransportKind::LongPolling],
            false,
            true,
        ),
        hub(
            "/authorizedhub",
            Arc::new(testhub::authorized_hub()),
            Arc::new(HubLifetime::new(faults, variations)),
            &all,
            true,
            true,
        ),
        hub(
            "/uncreatable",
            Arc::new(testhub::uncreatable_hub()),
            Arc::new(HubLifetime::new(faults, variations)),
            &all,
            false,
            true,
        ),
        Arc::new(Endpoint {
            path: "/echo".to_owned(),
            kind: EndpointKind::Echo,
            transports: supported(&all),
            require_auth: false,
            close_on_auth_expiration: false,
            test_app: true,
            allow_stateful_reconnects: false,
        }),
    ];
    for (path, h) in extra {
        if endpoints.iter().all(|ep| ep.path != path) {
            let lifetime = Arc::new(HubLifetime::new(faults, variations));
            endpoints.push(hub(&path, Arc::new(h), lifetime, &all, false, false));
        }
    }
    endpoints
}
