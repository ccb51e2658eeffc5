//! Clients in the core: the per-inbound diff between what the core holds and what the
//! assignment asks for, carried out as AlterInbound calls, many in flight.

use super::*;

/// gRPC calls in flight at once when many clients change.
const PARALLEL_CALLS: usize = 64;

/// One AlterInbound call: with an account it adds, without it removes.
struct Call {
    tag: String,
    name: String,
    /// The key added (None: a removal).
    key: Option<String>,
    account: Option<crate::grpc::Account>,
}

impl Node {
    /// Makes the core hold the clients the assignment gives the running inbounds: removals
    /// first (a changed key is removed, then added), then additions. `ops.clients` follows each
    /// call that succeeded, so a failed one is tried again by the next sync.
    pub(super) async fn sync_clients(&self, ops: &mut Ops, readd: bool) -> Result<(), NodeError> {
        let flavor = self.settings.flavor;
        let desired = ops.assignment.resolve(&ops.inbounds, flavor);
        self.traffic.know(desired.names());
        let Some(api) = self.api.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            // No core: a launched core gets every client when it comes up.
            return Ok(());
        };
        let diff = match readd {
            true => ClientDiff::everything(&ops.clients, &desired),
            false => ClientDiff::between(&ops.clients, &desired),
        };
        if diff.is_empty() {
            return Ok(());
        }
        let removals = diff
            .remove
            .iter()
            .map(|(tag, name)| Call {
                tag: tag.clone(),
                name: name.clone(),
                key: None,
                account: None,
            })
            .collect();
        let (done, mut first_error) = run_calls(&api, removals).await;
        for call in &done {
            ops.clients.remove(&call.tag, &call.name);
        }
        let mut additions = Vec::with_capacity(diff.add.len());
        for (tag, name, key) in &diff.add {
            let Some(inbound) = ops.inbounds.iter().find(|i| &i.tag == tag) else {
                continue;
            };
            match account_for(inbound, key, flavor) {
                Ok(account) => additions.push(Call {
                    tag: tag.clone(),
                    name: name.clone(),
                    key: Some(key.clone()),
                    account: Some(account),
                }),
                Err(why) => {
                    tracing::error!(tag = %tag, why, "client cannot go into this inbound");
                    first_error.get_or_insert(NodeError::BadRequest(why));
                }
            }
        }
        let (done, add_error) = run_calls(&api, additions).await;
        for call in &done {
            if let Some(key) = &call.key {
                ops.clients.insert(&call.tag, &call.name, key);
            }
        }
        tracing::info!(
            removed = diff.remove.len(),
            added = done.len(),
            clients = ops.clients.names().len(),
            "clients changed in the core"
        );
        match first_error.or(add_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs the calls on a fixed set of workers (so memory stays flat however many clients
/// change); returns the calls that succeeded and the first error.
async fn run_calls(api: &CoreApi, calls: Vec<Call>) -> (Vec<Call>, Option<NodeError>) {
    if calls.is_empty() {
        return (Vec::new(), None);
    }
    let queue = Arc::new(Mutex::new(calls.into_iter()));
    let mut workers = JoinSet::new();
    for _ in 0..PARALLEL_CALLS {
        let api = api.clone();
        let queue = queue.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            let mut failed = 0usize;
            let mut first_error = None;
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(call) = next else {
                    break;
                };
                let email = email_for(&call.name);
                let result = match &call.account {
                    Some(account) => api.add_user(&call.tag, &email, account).await,
                    None => api.remove_user(&call.tag, &email).await,
                };
                match result {
                    Ok(_) => done.push(call),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (done, failed, first_error)
        });
    }
    let mut done = Vec::new();
    let mut failed = 0usize;
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((d, n, e)) => {
                done.extend(d);
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
    if let Some(e) = &first_error {
        tracing::error!(failed, error = %e, "client changes failed in the core");
    }
    (done, first_error)
}
