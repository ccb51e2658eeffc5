//! The core's gRPC API (HandlerService, StatsService) over plain HTTP/2 to loopback.

pub mod client;
pub mod messages;

pub use client::{Account, ApiError, CoreApi, Outcome};
