//! Nexuma Core as a library: the `nexuma` binary's pieces, also used by the benchmarks.
//!
//! A request goes `server` → `routes` → `auth` → `runtime` (a fresh component instance) and
//! back; the component reaches the world only through `iface`, one module per WIT interface.

pub mod account;
pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bindings;
pub mod body;
pub mod cache;
pub mod cli;
pub mod components;
pub mod config;
pub mod docs;
pub mod headers;
pub mod health;
pub mod iface;
pub mod input;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod pattern;
pub mod registry;
pub mod response;
pub mod routes;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod tls;
