//! `nexuma_node`: the node agent. It supervises the proxy core (Xray, or v2ray 4 in tests),
//! changes its users live over the core's gRPC API and counts traffic without loss. In push
//! mode (`api`) it serves the seed's Node API over TLS; in pull mode (`pull`) it follows the
//! Core's node protocol (docs/node-protocol.md).

pub mod api;
pub mod credential;
pub mod grpc;
pub mod load;
pub mod node;
pub mod proxy;
pub mod pull;
pub mod settings;
pub mod state;
pub mod traffic;
