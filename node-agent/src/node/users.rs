//! Users in the core: AlterInbound calls for every inbound that takes users, many in flight.

use super::*;

/// gRPC calls in flight at once when many users change.
const PARALLEL_CALLS: usize = 64;

impl Node {
    pub(super) async fn add_all(&self, ops: &Ops) -> Result<(), NodeError> {
        let all: Vec<(String, String)> = ops
            .users
            .iter()
            .map(|(n, k)| (n.clone(), k.clone()))
            .collect();
        self.add_to_core(&ops.inbounds, &all).await
    }

    /// Adds users to every inbound that takes users, many calls in flight at once.
    pub(super) async fn add_to_core(
        &self,
        inbounds: &[Inbound],
        users: &[(String, String)],
    ) -> Result<(), NodeError> {
        let Some(api) = self.api.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            // The supervisor puts every user back when the core comes up again.
            return Ok(());
        };
        let flavor = self.settings.flavor;
        let mut calls = Vec::new();
        for inbound in inbounds {
            if let Err(why) = inbound.takes_users(flavor) {
                if !users.is_empty() {
                    tracing::debug!(tag = %inbound.tag, why, "inbound skipped");
                }
                continue;
            }
            for (name, key) in users {
                let account = account_for(inbound, key, flavor).map_err(NodeError::BadRequest)?;
                calls.push((inbound.tag.clone(), email_for(name), Some(account)));
            }
        }
        run_calls(api, calls).await
    }

    pub(super) async fn remove_from_core(
        &self,
        inbounds: &[Inbound],
        names: &[String],
    ) -> Result<(), NodeError> {
        let Some(api) = self.api.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        let flavor = self.settings.flavor;
        let calls = inbounds
            .iter()
            .filter(|i| i.takes_users(flavor).is_ok())
            .flat_map(|i| {
                names
                    .iter()
                    .map(move |n| (i.tag.clone(), email_for(n), None))
            })
            .collect();
        run_calls(api, calls).await
    }
}

/// One AlterInbound per (tag, email): with an account it adds, without it removes. A fixed
/// set of workers takes the calls in turn, so memory stays flat however many users change.
pub(super) async fn run_calls(api: CoreApi, calls: Vec<Call>) -> Result<(), NodeError> {
    let queue = Arc::new(Mutex::new(calls.into_iter()));
    let mut workers = JoinSet::new();
    for _ in 0..PARALLEL_CALLS {
        let api = api.clone();
        let queue = queue.clone();
        workers.spawn(async move {
            let mut failed = 0usize;
            let mut first_error = None;
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((tag, email, account)) = next else {
                    break;
                };
                let result = match account {
                    Some(account) => api.add_user(&tag, &email, &account).await,
                    None => api.remove_user(&tag, &email).await,
                };
                if let Err(e) = result {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
            (failed, first_error)
        });
    }
    let mut failed = 0usize;
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((n, e)) => {
                failed += n;
                if let Some(e) = e {
                    first_error.get_or_insert(NodeError::Api(e));
                }
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(NodeError::Core(e.to_string()));
            }
        }
    }
    match first_error {
        Some(e) => {
            tracing::error!(failed, error = %e, "user changes failed in the core");
            Err(e)
        }
        None => Ok(()),
    }
}

/// An inbound tag, an email, and the account to add (None: remove).
type Call = (String, String, Option<crate::grpc::Account>);
