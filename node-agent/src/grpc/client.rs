//! A small gRPC client for the core: add and remove users, query stats.

use std::net::SocketAddr;
use std::time::Duration;

use http::uri::PathAndQuery;
use prost::Message;
use tonic::codec::ProstCodec;
use tonic::transport::{Channel, Endpoint};

use super::messages::*;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the core API at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: tonic::transport::Error,
    },
    #[error("core API call {method} failed: {status}")]
    Call {
        method: &'static str,
        status: Box<tonic::Status>,
    },
    #[error("unsupported user account: {0}")]
    Account(String),
}

/// What an idempotent user change ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The user was already there (add) or already gone (remove).
    AlreadyThere,
}

/// A user's account in one inbound.
#[derive(Clone, Debug)]
pub enum Account {
    Vless {
        id: String,
        flow: String,
    },
    Vmess {
        id: String,
    },
    Trojan {
        password: String,
    },
    /// `cipher` is the core's enum value for the inbound's method.
    Shadowsocks {
        password: String,
        cipher: i32,
    },
    Shadowsocks2022 {
        key: String,
    },
}

/// Client for one core's API. Cheap to clone; calls may run concurrently over one connection.
#[derive(Clone)]
pub struct CoreApi {
    grpc: tonic::client::Grpc<Channel>,
    /// `xray.` or `v2ray.core.`: goes into method paths and every TypedMessage type.
    prefix: String,
}

impl CoreApi {
    pub async fn connect(addr: SocketAddr, prefix: &str) -> Result<CoreApi, ApiError> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|source| ApiError::Connect { addr, source })?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|source| ApiError::Connect { addr, source })?;
        Ok(CoreApi {
            grpc: tonic::client::Grpc::new(channel),
            prefix: prefix.to_owned(),
        })
    }

    /// Adds a user to an inbound; an existing user with this email counts as success.
    pub async fn add_user(
        &self,
        tag: &str,
        email: &str,
        account: &Account,
    ) -> Result<Outcome, ApiError> {
        let user = User {
            level: 0,
            email: email.to_owned(),
            account: Some(self.account_message(account)),
        };
        let op = self.typed(
            "app.proxyman.command.AddUserOperation",
            &AddUserOperation { user: Some(user) },
        );
        match self.alter_inbound(tag, op).await {
            Err(ApiError::Call { status, .. }) if status.message().contains("already exists") => {
                Ok(Outcome::AlreadyThere)
            }
            other => other.map(|()| Outcome::Done),
        }
    }

    /// Removes a user from an inbound; a user that is not there counts as success.
    pub async fn remove_user(&self, tag: &str, email: &str) -> Result<Outcome, ApiError> {
        let op = self.typed(
            "app.proxyman.command.RemoveUserOperation",
            &RemoveUserOperation {
                email: email.to_owned(),
            },
        );
        match self.alter_inbound(tag, op).await {
            // "handler not found" (unknown tag) is a real error; "User X not found." is not.
            Err(ApiError::Call { status, .. })
                if status.message().contains("not found")
                    && !status.message().contains("handler not found") =>
            {
                Ok(Outcome::AlreadyThere)
            }
            other => other.map(|()| Outcome::Done),
        }
    }

    /// Reads counters whose name contains `pattern`; `reset` zeroes them in the same step.
    pub async fn query_stats(&self, pattern: &str, reset: bool) -> Result<Vec<Stat>, ApiError> {
        let req = QueryStatsRequest {
            pattern: pattern.to_owned(),
            reset,
        };
        let resp: QueryStatsResponse = self
            .unary(
                "QueryStats",
                "app.stats.command.StatsService/QueryStats",
                req,
            )
            .await?;
        Ok(resp.stat)
    }

    async fn alter_inbound(&self, tag: &str, operation: TypedMessage) -> Result<(), ApiError> {
        let req = AlterInboundRequest {
            tag: tag.to_owned(),
            operation: Some(operation),
        };
        let _: AlterInboundResponse = self
            .unary(
                "AlterInbound",
                "app.proxyman.command.HandlerService/AlterInbound",
                req,
            )
            .await?;
        Ok(())
    }

    async fn unary<Req, Resp>(
        &self,
        method: &'static str,
        path: &str,
        req: Req,
    ) -> Result<Resp, ApiError>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let fail = |status: tonic::Status| ApiError::Call {
            method,
            status: Box::new(status),
        };
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| fail(tonic::Status::unavailable(e.to_string())))?;
        let path = PathAndQuery::try_from(format!("/{}{}", self.prefix, path))
            .map_err(|e| fail(tonic::Status::internal(e.to_string())))?;
        let codec: ProstCodec<Req, Resp> = ProstCodec::default();
        let resp = grpc
            .unary(tonic::Request::new(req), path, codec)
            .await
            .map_err(fail)?;
        Ok(resp.into_inner())
    }

    fn typed(&self, name: &str, msg: &impl Message) -> TypedMessage {
        TypedMessage {
            r#type: format!("{}{}", self.prefix, name),
            value: msg.encode_to_vec(),
        }
    }

    fn account_message(&self, account: &Account) -> TypedMessage {
        match account {
            Account::Vless { id, flow } => self.typed(
                "proxy.vless.Account",
                &VlessAccount {
                    id: id.clone(),
                    flow: flow.clone(),
                    encryption: String::new(),
                },
            ),
            Account::Vmess { id } => {
                self.typed("proxy.vmess.Account", &VmessAccount { id: id.clone() })
            }
            Account::Trojan { password } => self.typed(
                "proxy.trojan.Account",
                &TrojanAccount {
                    password: password.clone(),
                },
            ),
            Account::Shadowsocks { password, cipher } => self.typed(
                "proxy.shadowsocks.Account",
                &ShadowsocksAccount {
                    password: password.clone(),
                    cipher_type: *cipher,
                },
            ),
            Account::Shadowsocks2022 { key } => self.typed(
                "proxy.shadowsocks_2022.Account",
                &Shadowsocks2022Account { key: key.clone() },
            ),
        }
    }
}

/// Xray's `proxy.shadowsocks.CipherType` value for a method name (None: unsupported).
pub fn xray_cipher(method: &str) -> Option<i32> {
    match method.to_ascii_lowercase().as_str() {
        "aes-128-gcm" => Some(5),
        "aes-256-gcm" => Some(6),
        "chacha20-poly1305" | "chacha20-ietf-poly1305" => Some(7),
        "xchacha20-poly1305" | "xchacha20-ietf-poly1305" => Some(8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_user_operation_wire_layout() {
        // Field numbers as in the .proto files: User{level=1,email=2,account=3}, op{user=1}.
        let op = AddUserOperation {
            user: Some(User {
                level: 0,
                email: "e".into(),
                account: Some(TypedMessage {
                    r#type: "t".into(),
                    value: vec![1],
                }),
            }),
        };
        let bytes = op.encode_to_vec();
        assert_eq!(
            bytes,
            vec![0x0a, 11, 0x12, 1, b'e', 0x1a, 6, 0x0a, 1, b't', 0x12, 1, 1]
        );
    }
}
