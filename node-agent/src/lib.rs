//! `nexuma_node`: the node agent. It supervises the proxy core (Xray, or v2ray 4 in tests),
//! changes its users live over the core's gRPC API, counts per-user traffic without loss and
//! serves the seed's Node API over TLS.

pub mod api;
pub mod credential;
pub mod grpc;
pub mod load;
pub mod node;
pub mod proxy;
pub mod settings;
pub mod state;
pub mod traffic;
