//! Hand-written prost messages for the few calls the agent makes. Field numbers are those of
//! Xray's and v2ray 4's `.proto` files, which agree; only the package prefix differs.

/// `common.serial.TypedMessage`: `type` is the bare full message name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedMessage {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `common.protocol.User`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(uint32, tag = "1")]
    pub level: u32,
    #[prost(string, tag = "2")]
    pub email: String,
    #[prost(message, optional, tag = "3")]
    pub account: Option<TypedMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddUserOperation {
    #[prost(message, optional, tag = "1")]
    pub user: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveUserOperation {
    #[prost(string, tag = "1")]
    pub email: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AlterInboundRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(message, optional, tag = "2")]
    pub operation: Option<TypedMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AlterInboundResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsRequest {
    #[prost(string, tag = "1")]
    pub pattern: String,
    #[prost(bool, tag = "2")]
    pub reset: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "2")]
    pub value: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsResponse {
    #[prost(message, repeated, tag = "1")]
    pub stat: Vec<Stat>,
}

/// `proxy.vless.Account` (also used as the shape of `proxy.vmess.Account`: `id = 1`; VMess'
/// `alter_id = 2` is left 0, which proto3 does not send).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VlessAccount {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub flow: String,
    #[prost(string, tag = "3")]
    pub encryption: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VmessAccount {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `proxy.trojan.Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrojanAccount {
    #[prost(string, tag = "1")]
    pub password: String,
}

/// `proxy.shadowsocks.Account` (classic AEAD; Xray's cipher enum numbering).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ShadowsocksAccount {
    #[prost(string, tag = "1")]
    pub password: String,
    #[prost(int32, tag = "2")]
    pub cipher_type: i32,
}

/// `proxy.shadowsocks_2022.Account` (Xray only).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Shadowsocks2022Account {
    #[prost(string, tag = "1")]
    pub key: String,
}
