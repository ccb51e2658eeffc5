//! A PostgreSQL and a Redis of a test's own, on private ports, for fault tests: stopping,
//! restarting or freezing them disturbs no other test (the shared servers on 5432/6379 stay up).
//!
//! Both are driven with blocking commands; from an async test call them inside
//! `tokio::task::block_in_place` so the load running beside them keeps its worker threads.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to start accepting connections.
const START_WITHIN: Duration = Duration::from_secs(30);

/// How `pg_ctl stop` ends the server's sessions.
#[derive(Clone, Copy, Debug)]
pub enum StopMode {
    /// Clients are told "terminating connection due to administrator command": issue 13's case.
    Fast,
    /// No goodbye, like a crash; the next start recovers from the WAL.
    Immediate,
}

impl StopMode {
    fn arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// A PostgreSQL cluster of its own, made with `initdb` in a temporary directory and removed on
/// drop. PostgreSQL refuses to run as root, so every command runs as the `postgres` user.
pub struct PrivatePostgres {
    port: u16,
    /// Owned by `postgres`: the data directory, the log and the Unix socket.
    dir: PathBuf,
    bin: PathBuf,
}

impl PrivatePostgres {
    /// A fresh cluster, running.
    pub fn launch() -> Self {
        let bin = postgres_bin();
        let dir = std::env::temp_dir().join(format!("nexuma-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("postgres dir");
        run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        let pg = PrivatePostgres {
            port: testkit::free_port(),
            dir,
            bin,
        };
        // --no-sync: the cluster lives as long as the test, durability across power loss is moot.
        pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--no-instructions",
            ],
        );
        pg.start();
        pg
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `DATABASE_URL` for the Core: the cluster's own `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped server on its port and waits until it accepts connections.
    pub fn start(&self) {
        let options = self.options();
        self.pg_ctl(&["-o", &options, "-w", "-t", "30", "start"]);
        assert!(
            testkit::wait_listening(self.port, START_WITHIN),
            "private PostgreSQL did not listen on {}:\n{}",
            self.port,
            self.log_tail()
        );
    }

    /// Stops the server; with `-w`, it has gone when this returns.
    pub fn stop(&self, mode: StopMode) {
        self.pg_ctl(&["-m", mode.arg(), "-w", "-t", "30", "stop"]);
    }

    /// `pg_ctl restart`: stop with `mode`, start again at once.
    pub fn restart(&self, mode: StopMode) {
        let options = self.options();
        self.pg_ctl(&[
            "-m",
            mode.arg(),
            "-o",
            &options,
            "-w",
            "-t",
            "30",
            "restart",
        ]);
        assert!(
            testkit::wait_listening(self.port, START_WITHIN),
            "private PostgreSQL did not listen again on {}:\n{}",
            self.port,
            self.log_tail()
        );
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.join("postgres.log"), 30)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's settings: this port only on loopback, its socket in our directory (not the
    /// shared server's /var/run/postgresql). fsync off: the machine never crashes under a test,
    /// and a `-m immediate` stop still recovers from the WAL in the page cache.
    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        )
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let log = self.dir.join("postgres.log").display().to_string();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str()];
        all.extend_from_slice(args);
        self.as_postgres("pg_ctl", &all);
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("runuser {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // It may be stopped already (a failed test); errors are of no interest here.
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server's `bin` directory (`/usr/lib/postgresql/<version>/bin`).
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e} (PostgreSQL server not installed)", root.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version: u32 = name.parse().ok()?;
            let bin = root.join(&name).join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    newest
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("no PostgreSQL server with initdb under {}", root.display()))
}

/// A Redis of its own as a child process, in memory only (`--save "" --appendonly no`): a
/// restart comes back empty, as in the reproduction.
pub struct PrivateRedis {
    port: u16,
    dir: super::tempdir::Dir,
    child: Option<Child>,
}

impl PrivateRedis {
    /// A fresh server, running.
    pub fn launch() -> Self {
        let mut redis = PrivateRedis {
            port: testkit::free_port(),
            dir: super::tempdir::Dir::new(),
            child: None,
        };
        redis.start();
        redis
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `REDIS_URL` for the Core.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server on its port (again) and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "private Redis is running already");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (apt-get install redis-server)");
        self.child = Some(child);
        assert!(
            testkit::wait_listening(self.port, START_WITHIN),
            "private Redis did not listen on {}",
            self.port
        );
    }

    /// `SHUTDOWN NOSAVE`, the way of stopping it; gone when this returns.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = conn.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGSTOP: connections stay open and connects still succeed (the kernel's backlog), but
    /// nothing is answered — a dead connection that says nothing, unlike a stopped server.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after `freeze`: the server answers what waited.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("private Redis running").id();
        run(Command::new("kill").arg(signal).arg(pid.to_string()));
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL ends a frozen process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
