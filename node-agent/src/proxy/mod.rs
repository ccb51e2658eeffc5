//! The proxy core: which build it is, its JSON config, its process.

pub mod api_port;
pub mod capabilities;
pub mod config;
pub mod exposure;
pub mod flavor;
pub mod inbound;
pub mod process;

pub use capabilities::Capabilities;
pub use config::{CoreConfig, Layout};
pub use exposure::Exposure;
pub use flavor::Flavor;
pub use inbound::{Inbound, Protocol};
pub use process::CoreProcess;
