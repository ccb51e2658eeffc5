//! The core process under the node: launching it and waiting for its API, stopping it after a
//! last poll, and restarting it with backoff when it dies.

use super::*;

impl Node {
    /// Spawns the core on `core.json` and waits until its API answers. The new core holds no
    /// clients yet.
    pub(super) async fn launch(&self, ops: &mut Ops) -> Result<(), NodeError> {
        let s = &self.settings;
        let mut process = CoreProcess::spawn(&s.core_bin, s.flavor, &s.data_dir.join("core.json"))
            .map_err(|e| NodeError::Core(format!("cannot run {}: {e}", s.core_bin.display())))?;
        let pid = process.pid();
        ops.generation += 1;
        let generation = ops.generation;
        let (stop, stop_rx) = oneshot::channel::<()>();
        let events = self.events.clone();
        let done = tokio::spawn(async move {
            let exited = tokio::select! {
                status = process.wait() => Some(status),
                _ = stop_rx => None,
            };
            match exited {
                Some(status) => {
                    let status = match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    };
                    let _ = events.send(CoreEvent::Exited { generation, status });
                }
                None => process.stop().await,
            }
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], s.api_port));
        let deadline = Instant::now() + Duration::from_secs(15);
        let api = loop {
            if done.is_finished() {
                return Err(NodeError::Core(
                    "the core exited during start-up (its log is above)".into(),
                ));
            }
            if let Ok(api) = CoreApi::connect(addr, &s.grpc_prefix).await {
                match api.query_stats("nexuma>>>ready", false).await {
                    Ok(_) => break api,
                    Err(e) if Instant::now() > deadline => {
                        let _ = stop.send(());
                        let _ = done.await;
                        return Err(NodeError::Core(format!(
                            "the core's API does not answer: {e}"
                        )));
                    }
                    Err(_) => {}
                }
            }
            if Instant::now() > deadline {
                let _ = stop.send(());
                let _ = done.await;
                return Err(NodeError::Core(format!(
                    "the core's API at {addr} never came up"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        *self.api.lock().unwrap_or_else(|p| p.into_inner()) = Some(api);
        self.core_pid.store(pid, Ordering::SeqCst);
        let _ = std::fs::write(s.data_dir.join("core.pid"), format!("{pid}\n"));
        ops.clients = Clients::default();
        ops.core = Some(CoreHandle {
            generation,
            started: Instant::now(),
            stop,
            done,
        });
        Ok(())
    }

    /// Final poll, then the core is stopped.
    pub(super) async fn shutdown_core(&self, ops: &mut Ops) {
        let Some(core) = ops.core.take() else {
            return;
        };
        if let Err(e) = self.poll().await {
            tracing::warn!(error = %e, "last stats poll before stopping the core failed");
        }
        *self.api.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.core_pid.store(0, Ordering::SeqCst);
        ops.clients = Clients::default();
        let _ = std::fs::remove_file(self.settings.data_dir.join("core.pid"));
        let _ = core.stop.send(());
        let _ = core.done.await;
    }

    /// Restarts a core that died, with backoff, and puts its clients back.
    pub(super) async fn supervise(self: Arc<Self>, mut events: mpsc::UnboundedReceiver<CoreEvent>) {
        while let Some(CoreEvent::Exited { generation, status }) = events.recv().await {
            let mut ops = self.ops.lock().await;
            if ops.core.as_ref().map(|c| c.generation) != Some(generation) {
                continue;
            }
            let Some(dead) = ops.core.take() else {
                continue;
            };
            *self.api.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.core_pid.store(0, Ordering::SeqCst);
            ops.clients = Clients::default();
            if dead.started.elapsed() > Duration::from_secs(60) {
                ops.failures = 0;
            }
            tracing::error!(
                %status,
                ran_secs = dead.started.elapsed().as_secs(),
                "core died; restarting it (traffic since the last poll is lost)"
            );
            self.emit(NodeEvent::CoreExited {
                status,
                at: SystemTime::now(),
            });
            self.revive(ops).await;
        }
    }

    /// Launches the core until it runs with its clients (or the node is stopped, or another
    /// path started it), waiting out the backoff without holding the operation lock.
    pub(super) async fn revive<'a>(&'a self, mut ops: tokio::sync::MutexGuard<'a, Ops>) {
        self.set_status(Status::Starting);
        loop {
            let delay = backoff(ops.failures);
            if !delay.is_zero() {
                drop(ops);
                tokio::time::sleep(delay).await;
                ops = self.ops.lock().await;
            }
            if !ops.active || ops.core.is_some() {
                break;
            }
            let result = match self.launch(&mut ops).await {
                Ok(()) => self.sync_clients(&mut ops, false).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.set_status(Status::Running);
                    tracing::info!(
                        pid = self.core_pid(),
                        clients = ops.clients.names().len(),
                        "core restarted"
                    );
                    break;
                }
                Err(e) => {
                    ops.failures += 1;
                    tracing::error!(error = %e, failures = ops.failures, "core restart failed");
                    if ops.core.is_some() {
                        // It runs; the clients that failed are retried by the next change.
                        self.set_status(Status::Running);
                        break;
                    }
                }
            }
        }
        ops.failures = ops.failures.saturating_add(1);
    }
}

/// Delay before restart attempt number `failures`: none at first, then doubling to 30 s.
pub(super) fn backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => {
            Duration::from_millis(250u64.saturating_mul(1 << n.min(7))).min(Duration::from_secs(30))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(30), Duration::from_secs(30));
    }
}
