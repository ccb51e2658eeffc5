//! Push mode's operations, as the Node API calls them: the inbounds file is the layout and
//! every user goes into every inbound that takes users. `state.json` keeps whether a start is
//! in force and its users, so an agent restart resumes them.

use std::collections::BTreeMap;

use super::*;
use crate::state::PushState;

/// Push mode's users follow the API even when the inbounds file cannot be applied.
const PUSH: Converge = Converge {
    readd: false,
    clients_despite_failure: true,
};

impl Node {
    /// Starts again what was running when the agent last stopped.
    pub async fn resume(&self) -> Result<(), NodeError> {
        let state = PushState::load(&self.state_path()).map_err(NodeError::State)?;
        if !state.running {
            return Ok(());
        }
        tracing::info!(users = state.users.len(), "resuming the node as it was");
        let users = state
            .users
            .into_iter()
            .map(|(name, key)| UserSpec { name, key })
            .collect();
        self.start(users).await
    }

    /// The inbounds users are served on: those of the config the core runs, or — while no
    /// core runs — those of the inbounds file, which the next start will run.
    pub async fn inbounds(&self) -> Result<Vec<Inbound>, NodeError> {
        let ops = self.ops.lock().await;
        if ops.core.is_some() {
            return Ok(ops.inbounds.clone());
        }
        drop(ops);
        Ok(inbound::load(self.inbounds_path()?)?)
    }

    /// `POST /node/start`: run the core with the inbounds file's config (validated first;
    /// replaced only when it changed) and make the user set exactly `users`.
    pub async fn start(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let desired = check_users(users)?;
        let mut ops = self.ops.lock().await;
        let layout = self.file_layout();
        let result = self
            .converge(&mut ops, layout, Assignment::Everywhere(desired), PUSH)
            .await;
        if ops.core.is_none() {
            return result;
        }
        let save = self.save_state(&ops);
        tracing::info!(users = ops.assignment.names().len(), "node started");
        result.and(save)
    }

    /// `POST /node/stop`: read the counters one last time, stop the core, forget the users.
    pub async fn stop(&self) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        self.set_status(Status::Stopping);
        ops.active = false;
        self.shutdown_core(&mut ops).await;
        ops.assignment = Assignment::default();
        let save = self.save_state(&ops);
        self.set_status(Status::Stopped);
        tracing::info!("node stopped");
        save
    }

    /// `POST /users/add`: add users live (idempotent; a changed key replaces the old one).
    pub async fn add_users(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let users = check_users(users)?;
        let mut ops = self.ops.lock().await;
        let count = users.len();
        everywhere(&mut ops)?.extend(users);
        let save = self.save_state(&ops);
        self.sync_clients(&mut ops, false).await?;
        tracing::info!(
            added = count,
            users = ops.assignment.names().len(),
            "users added"
        );
        save
    }

    /// `POST /users/del`: remove users live (idempotent).
    pub async fn remove_users(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let users = check_users(users)?;
        let mut ops = self.ops.lock().await;
        let current = everywhere(&mut ops)?;
        for name in users.keys() {
            current.remove(name);
        }
        let save = self.save_state(&ops);
        self.sync_clients(&mut ops, false).await?;
        tracing::info!(
            removed = users.len(),
            users = ops.assignment.names().len(),
            "users removed"
        );
        save
    }

    /// Re-reads the inbounds file and replaces the config if it changed (SIGHUP).
    pub async fn reload(&self) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        if !ops.active {
            return Ok(());
        }
        let layout = self.file_layout();
        let assignment = ops.assignment.clone();
        self.converge(&mut ops, layout, assignment, PUSH).await
    }

    /// Per-user totals after a fresh poll: the node's users and every name with traffic.
    pub async fn user_stats(&self) -> Vec<(String, Bytes)> {
        if let Err(e) = self.poll().await {
            tracing::warn!(error = %e, "stats poll failed; showing the last durable counters");
        }
        let mut totals = self.traffic.totals();
        let ops = self.ops.lock().await;
        for name in ops.assignment.names() {
            totals.entry(name).or_default();
        }
        totals.into_iter().collect()
    }

    fn inbounds_path(&self) -> Result<&std::path::Path, NodeError> {
        self.settings
            .inbounds_path
            .as_deref()
            .ok_or_else(|| NodeError::BadRequest("this node has no inbounds file".into()))
    }

    fn file_layout(&self) -> Result<Layout, NodeError> {
        let inbounds = inbound::load(self.inbounds_path()?)?;
        Ok(Layout::with_default_routes(inbounds))
    }

    fn state_path(&self) -> PathBuf {
        self.settings.data_dir.join("state.json")
    }

    fn save_state(&self, ops: &Ops) -> Result<(), NodeError> {
        let users = match &ops.assignment {
            Assignment::Everywhere(users) => users.clone(),
            Assignment::PerInbound(_) => BTreeMap::new(),
        };
        let state = PushState {
            running: ops.active,
            users,
        };
        state.save(&self.state_path()).map_err(NodeError::State)
    }
}

/// The user set of a started push-mode node.
fn everywhere(ops: &mut Ops) -> Result<&mut ClientList, NodeError> {
    if !ops.active {
        return Err(NodeError::NotRunning);
    }
    match &mut ops.assignment {
        Assignment::Everywhere(users) => Ok(users),
        Assignment::PerInbound(_) => Err(NodeError::BadRequest(
            "this node takes its clients from the Core (pull mode)".into(),
        )),
    }
}

/// Checks a user list from the API: names and keys present, names unique.
fn check_users(users: Vec<UserSpec>) -> Result<ClientList, NodeError> {
    let mut out = BTreeMap::new();
    for u in users {
        if u.name.is_empty() || u.key.is_empty() {
            return Err(NodeError::BadRequest(
                "every user needs a non-empty `name` and `key`".into(),
            ));
        }
        if out.insert(u.name.clone(), u.key).is_some() {
            return Err(NodeError::BadRequest(format!(
                "user `{}` appears twice",
                u.name
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_checked() {
        let u = |n: &str, k: &str| UserSpec {
            name: n.into(),
            key: k.into(),
        };
        assert!(check_users(vec![u("a", "1"), u("b", "2")]).is_ok());
        assert!(check_users(vec![u("a", "1"), u("a", "2")]).is_err());
        assert!(check_users(vec![u("", "1")]).is_err());
    }
}
