//! `nexuma components list | push | activate | promote | rollback`: the component versions stored in a
//! Core, through its admin API (`/admin/components`). The Core checks everything; this side
//! reads the file, sends it, and shows the answer in a form an operator reads.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{self, AdminClient};
use super::{table, CliError};

/// Characters of a hash shown in tables and messages; `activate` takes such a prefix back.
const SHORT_HASH: usize = 12;
/// Hex digits of a SHA-256, the Core's version hashes.
const FULL_HASH: usize = 64;

const AFTER_HELP: &str = "\
The token is an administrator's access token. Log in to get one (it lives 15 minutes):

  export NEXUMA_TOKEN=$(curl -s http://127.0.0.1:3000/auth/login \\
      -H 'content-type: application/json' \\
      -d '{\"email\":\"admin@example.com\",\"password\":\"...\"}' | jq -r .accessToken)

Exit status: 0 done, 1 the Core refused or could not be reached, 2 a usage error.
See docs/components.md.";

/// Manage the component versions stored in a running Core, through its admin API.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The Core's address [default: http://127.0.0.1:$PORT, PORT 3000]
    #[arg(long, env = "NEXUMA_URL", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// An admin access token, from POST /auth/login (`nexuma components --help` shows how)
    #[arg(
        long,
        env = "NEXUMA_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// SHA-256 of the Core's TLS certificate, to trust a self-signed one
    #[arg(long, env = "NEXUMA_PIN", global = true, value_name = "SHA256")]
    pub pin: Option<String>,
    /// What to do
    #[command(subcommand)]
    pub action: Action,
}

/// The subcommands of `nexuma components`
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The components and their active versions; with NAME, that component's versions.
    List {
        /// One component: every stored version (hashes to activate), routes and counters.
        name: Option<String>,
    },
    /// Upload a built component (.wasm); the Core compiles and checks it before storing it.
    Push {
        /// The built component, e.g. target/wasm32-wasip2/release/hello.wasm.
        file: PathBuf,
        /// The component's name [default: the file name without .wasm]
        #[arg(long)]
        name: Option<String>,
        /// Make the uploaded version the active one at once.
        #[arg(long)]
        activate: bool,
        /// Whether, and how, to start a canary instead
        #[command(flatten)]
        canary: CanaryArgs,
    },
    /// Make a stored version the active one (or, with --canary, serve a share of requests).
    Activate {
        /// The component's name
        name: String,
        /// The version's hash, or a prefix of it that names one version (as `list` shows it).
        hash: String,
        /// Whether, and how, to start a canary instead
        #[command(flatten)]
        canary: CanaryArgs,
    },
    /// End a running canary now: its version becomes the active one.
    Promote {
        /// The component's name
        name: String,
    },
    /// Go back to the version that was active before the current one; during a canary, end
    /// the canary (the active version keeps every request).
    Rollback {
        /// The component's name
        name: String,
    },
}

/// A canary activation: a share of the name's requests on the new version for a window,
/// rolled back by the Core itself when it fails more often than the active version.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CanaryArgs {
    /// Activate as a canary serving PERCENT (1-99) of the requests (implies --activate)
    #[arg(long, value_name = "PERCENT")]
    canary: Option<i64>,
    /// The canary's window; at its end the canary is promoted [default: 600]
    #[arg(long, requires = "canary", value_name = "SECONDS")]
    window: Option<i64>,
    /// How much more often (0-1) the canary may fail than the active version [default: 0.05]
    #[arg(long, requires = "canary", value_name = "FRACTION")]
    margin: Option<f64>,
}

impl CanaryArgs {
    /// The activation's `canary` object, when one is asked for.
    fn body(&self) -> Option<Value> {
        let percent = self.canary?;
        let mut canary = json!({ "percent": percent });
        if let Some(window) = self.window {
            canary["windowSeconds"] = json!(window);
        }
        if let Some(margin) = self.margin {
            canary["margin"] = json!(margin);
        }
        Some(canary)
    }
}

/// Runs one `nexuma components` command, printing what it did to stdout.
pub async fn run(args: Args) -> Result<(), CliError> {
    let port = std::env::var("PORT").ok();
    let base = client::base_url(args.url.as_deref(), port.as_deref())?;
    let token = token(args.token.as_deref())?;
    let pin = args.pin.as_deref().map(parse_pin).transpose()?;
    // The file is read before anything is sent: a wrong path is the operator's mistake (exit 2)
    // whether or not the Core is up.
    let upload = match &args.action {
        Action::Push { file, name, .. } => Some(Upload::read(file, name.as_deref())?),
        _ => None,
    };
    let api = AdminClient::new(base, token, pin)?;
    let output = match (args.action, upload) {
        (Action::List { name: None }, _) => render_list(&fetch(&api).await?),
        (Action::List { name: Some(name) }, _) => {
            let listing = fetch(&api).await?;
            render_component(find(&listing, &name)?)
        }
        (
            Action::Push {
                activate, canary, ..
            },
            Some(upload),
        ) => match canary.body() {
            Some(canary) => push_canary(&api, upload, canary).await?,
            None => push(&api, upload, activate).await?,
        },
        (Action::Activate { name, hash, canary }, _) => {
            activate(&api, &name, &hash, canary.body()).await?
        }
        (Action::Promote { name }, _) => promote(&api, &name).await?,
        (Action::Rollback { name }, _) => rollback(&api, &name).await?,
        (Action::Push { .. }, None) => {
            return Err(CliError::Failed("internal: push without a file".into()))
        }
    };
    write_out(&output)
}

/// Writes to stdout; a reader that went away (`list | head -1`) is not an error, and unlike
/// `print!` nothing panics.
fn write_out(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Failed(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// `GET /admin/components`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    components: Vec<Entry>,
}

/// One name in the listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: String,
    #[serde(default)]
    active: Option<Active>,
    #[serde(default)]
    versions: Vec<Version>,
    /// A factory version newer than the active one of the operator's own (hash, version or flag).
    #[serde(default)]
    newer_factory: Value,
    /// This replica's calls, traps, deadline hits and memory peak of the active version.
    #[serde(default)]
    stats: Value,
    /// The running canary: hash, percent, margin, until, counts across replicas.
    #[serde(default)]
    canary: Value,
    /// The schema steps the database recorded for this name.
    #[serde(default)]
    migrations: Vec<Step>,
}

/// A schema step: declared by a version, or recorded as run.
#[derive(Debug, Deserialize)]
struct Step {
    version: u32,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Active {
    hash: String,
    #[serde(default)]
    factory: bool,
    #[serde(default)]
    activated_at: Value,
    #[serde(default)]
    activated_by: Value,
}

/// A stored version: the upload's answer, and each of a listing's `versions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    #[serde(default)]
    name: String,
    hash: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    routes: Vec<RouteInfo>,
    #[serde(default)]
    jobs: Value,
    #[serde(default)]
    factory: bool,
    #[serde(default)]
    uploaded_at: Value,
    #[serde(default)]
    uploaded_by: Value,
    #[serde(default)]
    active: bool,
    /// The contract version it targets, e.g. `0.1.1`.
    #[serde(default)]
    contract: Option<String>,
    #[serde(default)]
    migrations: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct RouteInfo {
    method: String,
    path: String,
    #[serde(default)]
    auth: String,
}

/// A file to push, read and named.
#[derive(Debug)]
struct Upload {
    name: String,
    bytes: Vec<u8>,
}

impl Upload {
    fn read(file: &Path, name: Option<&str>) -> Result<Upload, CliError> {
        let name = component_name(file, name)?;
        let bytes = std::fs::read(file)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
        Ok(Upload { name, bytes })
    }
}

/// `--name`, else the file's stem (`hello.wasm` → `hello`).
fn component_name(file: &Path, name: Option<&str>) -> Result<String, CliError> {
    if let Some(name) = name {
        let name = name.trim();
        if name.is_empty() {
            return Err(CliError::Usage("--name is empty".into()));
        }
        return Ok(name.to_string());
    }
    file.file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "cannot take a component name from {}: pass --name",
                file.display()
            ))
        })
}

fn token(flag: Option<&str>) -> Result<String, CliError> {
    match flag.map(str::trim) {
        None | Some("") => Err(CliError::Usage(
            "no admin token: pass --token or set NEXUMA_TOKEN to the accessToken of an admin's \
             POST /auth/login (see --help)"
                .into(),
        )),
        // What `jq -r .accessToken` prints when the login was refused.
        Some("null") => Err(CliError::Usage(
            "the token is \"null\": the login that should have made it failed".into(),
        )),
        Some(token) => Ok(token.to_string()),
    }
}

fn parse_pin(pin: &str) -> Result<[u8; 32], CliError> {
    cert_pin::parse(pin).map_err(|_| {
        CliError::Usage("--pin must be 64 hex digits (SHA-256), `:` separators allowed".into())
    })
}

async fn fetch(api: &AdminClient) -> Result<Listing, CliError> {
    let (_, body) = api.get(api.endpoint(&["admin", "components"])).await?;
    decode(body)
}

fn decode<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, CliError> {
    serde_json::from_value(body).map_err(|e| {
        CliError::Failed(format!(
            "the Core's answer is not what this nexuma understands ({e}); is the Core the same \
             version as this binary?"
        ))
    })
}

fn find<'a>(listing: &'a Listing, name: &str) -> Result<&'a Entry, CliError> {
    listing
        .components
        .iter()
        .find(|entry| entry.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = listing.components.iter().map(|e| e.name.as_str()).collect();
            CliError::Failed(format!(
                "the Core has no component named {name:?} (it has: {})",
                names.join(", ")
            ))
        })
}

/// `POST /admin/components?name=...[&activate=true]`, the file as the body.
async fn push(api: &AdminClient, upload: Upload, activate: bool) -> Result<String, CliError> {
    let mut url = api.endpoint(&["admin", "components"]);
    url.query_pairs_mut().append_pair("name", &upload.name);
    if activate {
        url.query_pairs_mut().append_pair("activate", "true");
    }
    let (status, body) = api.post_wasm(url, upload.bytes).await?;
    let mut version: Version = decode(body)?;
    if version.name.is_empty() {
        version.name = upload.name;
    }
    Ok(describe_push(&version, status == 201, activate))
}

/// `push --canary`: stored without activating, then activated as a canary.
async fn push_canary(api: &AdminClient, upload: Upload, canary: Value) -> Result<String, CliError> {
    let name = upload.name.clone();
    let mut url = api.endpoint(&["admin", "components"]);
    url.query_pairs_mut().append_pair("name", &name);
    let (status, body) = api.post_wasm(url, upload.bytes).await?;
    let version: Version = decode(body)?;
    let mut out = describe_stored(&version, &name, status == 201);
    let url = api.endpoint(&["admin", "components", &name, "activate"]);
    let body = json!({ "hash": version.hash, "canary": canary });
    let (_, entry) = api.post_json(url, &body).await?;
    out.push_str(&describe_canary(&name, &decode(entry)?));
    Ok(out)
}

/// `POST /admin/components/:name/activate {"hash", "canary"?}`, then what is active now.
async fn activate(
    api: &AdminClient,
    name: &str,
    typed: &str,
    canary: Option<Value>,
) -> Result<String, CliError> {
    let before = fetch(api).await?;
    let hash = match before.components.iter().find(|e| e.name == name) {
        Some(entry) => resolve_hash(entry, typed)?,
        // Let the Core say what is wrong with the name.
        None => typed.to_string(),
    };
    let url = api.endpoint(&["admin", "components", name, "activate"]);
    let mut body = json!({ "hash": hash });
    if let Some(canary) = canary {
        body["canary"] = canary;
        let (_, entry) = api.post_json(url, &body).await?;
        return Ok(describe_canary(name, &decode(entry)?));
    }
    api.post_json(url, &body).await?;
    describe_change(name, &before, &fetch(api).await?)
}

/// `POST /admin/components/:name/promote`, then what is active now.
async fn promote(api: &AdminClient, name: &str) -> Result<String, CliError> {
    let before = fetch(api).await?;
    let url = api.endpoint(&["admin", "components", name, "promote"]);
    api.post_empty(url).await?;
    describe_change(name, &before, &fetch(api).await?)
}

/// `POST /admin/components/:name/rollback`, then what is active now.
async fn rollback(api: &AdminClient, name: &str) -> Result<String, CliError> {
    let before = fetch(api).await?;
    let url = api.endpoint(&["admin", "components", name, "rollback"]);
    api.post_empty(url).await?;
    describe_change(name, &before, &fetch(api).await?)
}

/// The full hash of the one version whose hash starts with `typed`. A full hash matching none is
/// sent as it is, so the Core answers why; a prefix matching none or several is a usage error.
fn resolve_hash(entry: &Entry, typed: &str) -> Result<String, CliError> {
    let typed = typed.trim();
    let wanted = bare(typed);
    if let Some(version) = entry.versions.iter().find(|v| bare(&v.hash) == wanted) {
        return Ok(version.hash.clone());
    }
    let matching: Vec<&Version> = entry
        .versions
        .iter()
        .filter(|v| !wanted.is_empty() && bare(&v.hash).starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [] if wanted.len() >= FULL_HASH => Ok(typed.to_string()),
        [] => Err(CliError::Usage(format!(
            "{} has no version whose hash starts with {typed:?}; `nexuma components list {}` \
             shows them",
            entry.name, entry.name
        ))),
        [one] => Ok(one.hash.clone()),
        many => Err(CliError::Usage(format!(
            "{typed} is the start of {} versions of {} ({}): type more of the hash",
            many.len(),
            entry.name,
            many.iter()
                .map(|v| short(&v.hash))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn render_list(listing: &Listing) -> String {
    if listing.components.is_empty() {
        return "no components\n".into();
    }
    let rows: Vec<Vec<String>> = listing.components.iter().map(list_row).collect();
    table::render(
        &["NAME", "ACTIVE", "SOURCE", "ACTIVATED", "OTHERS", "NOTE"],
        &rows,
    )
}

fn list_row(entry: &Entry) -> Vec<String> {
    let active_hash = entry.active.as_ref().map(|a| a.hash.as_str());
    let others = entry
        .versions
        .iter()
        .filter(|v| Some(v.hash.as_str()) != active_hash)
        .count();
    let (hash, source, at) = match &entry.active {
        Some(a) => (
            short(&a.hash),
            source(a.factory),
            show_time(&a.activated_at),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let notes: Vec<String> = [
        canary_note(&entry.canary),
        newer_factory(&entry.newer_factory),
    ]
    .into_iter()
    .filter(|n| !n.is_empty())
    .collect();
    vec![
        entry.name.clone(),
        hash,
        source,
        at,
        others.to_string(),
        notes.join("; "),
    ]
}

/// `canary 3f2a9c1b7d4e 10% until ...` for a running canary, else empty.
fn canary_note(canary: &Value) -> String {
    let Some(hash) = canary.get("hash").and_then(Value::as_str) else {
        return String::new();
    };
    format!(
        "canary {} {}% until {}",
        short(hash),
        canary.get("percent").unwrap_or(&Value::Null),
        show_time(canary.get("until").unwrap_or(&Value::Null)),
    )
}

/// What a canary's start or `list NAME` says of it: share, window, margin, counts so far.
fn canary_lines(canary: &Value) -> String {
    let note = canary_note(canary);
    if note.is_empty() {
        return note;
    }
    let margin = canary.get("margin").and_then(Value::as_f64).unwrap_or(0.0);
    let mut out = format!("{note}, margin {}%\n", (margin * 1000.0).round() / 10.0);
    let counts = &canary["counts"];
    let figure = |side: &str| {
        let calls = counts[side]["calls"].as_u64().unwrap_or(0);
        let failures = counts[side]["failures"].as_u64().unwrap_or(0);
        format!("{failures}/{calls} failed")
    };
    if counts.is_object() {
        out.push_str(&format!(
            "  so far, all replicas: canary {}, active {}\n",
            figure("canary"),
            figure("active")
        ));
    }
    out
}

fn describe_canary(name: &str, entry: &Entry) -> String {
    let active = entry.active.as_ref().map_or("-".into(), |a| short(&a.hash));
    let mut out = format!("active: {name} serves {active} and the canary below\n");
    out.push_str(&canary_lines(&entry.canary));
    out.push_str(&format!(
        "the Core rolls it back by itself if it fails more than the margin above {active}; \
         `nexuma components promote {name}` ends it now, `rollback {name}` ends it without it\n"
    ));
    out
}

/// `list NAME`: what is active, then every stored version, newest as the Core orders them.
fn render_component(entry: &Entry) -> String {
    let mut out = String::new();
    match &entry.active {
        Some(a) => out.push_str(&format!(
            "{}: active {} ({}), since {} by {}\n",
            entry.name,
            short(&a.hash),
            source(a.factory),
            show_time(&a.activated_at),
            show_actor(&a.activated_by),
        )),
        None => out.push_str(&format!("{}: no active version\n", entry.name)),
    }
    let note = newer_factory(&entry.newer_factory);
    if !note.is_empty() {
        out.push_str(&format!("{note}\n"));
    }
    if let Some(stats) = show_stats(&entry.stats) {
        out.push_str(&format!("served: {stats}\n"));
    }
    out.push_str(&canary_lines(&entry.canary));
    if !entry.migrations.is_empty() {
        out.push_str(&format!(
            "schema steps run: {}\n",
            show_steps(&entry.migrations)
        ));
    }
    let active_hash = entry.active.as_ref().map(|a| a.hash.as_str());
    let rows: Vec<Vec<String>> = entry
        .versions
        .iter()
        .map(|v| {
            let is_active = v.active || Some(v.hash.as_str()) == active_hash;
            vec![
                if is_active { "*" } else { "" }.to_string(),
                short(&v.hash),
                source(v.factory),
                human_size(v.size),
                show_time(&v.uploaded_at),
                show_actor(&v.uploaded_by),
                show_routes(&v.routes),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(
        &["", "HASH", "SOURCE", "SIZE", "UPLOADED", "BY", "ROUTES"],
        &rows,
    ));
    out
}

fn describe_push(version: &Version, created: bool, asked_to_activate: bool) -> String {
    let mut out = describe_stored(version, &version.name, created);
    if version.active {
        out.push_str(&format!(
            "active: {} now serves {}\n",
            version.name,
            short(&version.hash)
        ));
    } else if asked_to_activate {
        out.push_str("not active: the Core stored it but did not activate it\n");
    } else {
        out.push_str(&format!(
            "not active: nexuma components activate {} {}\n",
            version.name,
            short(&version.hash)
        ));
    }
    out
}

/// What was stored: name, hash, size, routes and jobs.
fn describe_stored(version: &Version, name: &str, created: bool) -> String {
    let name = if version.name.is_empty() {
        name
    } else {
        &version.name
    };
    let mut out = format!(
        "{} {} {} ({})\n",
        if created { "stored" } else { "already stored" },
        name,
        short(&version.hash),
        human_size(version.size),
    );
    out.push_str(&format!("  hash:   {}\n", version.hash));
    out.push_str(&format!("  routes: {}\n", show_routes(&version.routes)));
    let jobs = show_jobs(&version.jobs);
    if !jobs.is_empty() {
        out.push_str(&format!("  jobs:   {jobs}\n"));
    }
    if !version.migrations.is_empty() {
        out.push_str(&format!("  schema: {}\n", show_steps(&version.migrations)));
    }
    if let Some(contract) = &version.contract {
        out.push_str(&format!("  contract: nexuma:core@{contract}\n"));
    }
    out
}

/// `1 create hello_greetings, 2 add last_at`.
fn show_steps(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| format!("{} {}", s.version, s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `activate` or `rollback` changed, from the listings before and after.
fn describe_change(name: &str, before: &Listing, after: &Listing) -> Result<String, CliError> {
    let was = before
        .components
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.active.as_ref())
        .map(|a| short(&a.hash))
        .unwrap_or_else(|| "none".into());
    let now = find(after, name)?;
    Ok(match &now.active {
        Some(a) => format!(
            "active: {name} now serves {} ({}; was {was})\n",
            short(&a.hash),
            source(a.factory)
        ),
        None => format!("{name} has no active version (was {was})\n"),
    })
}

/// A hash without an algorithm prefix such as `sha256:`.
fn bare(hash: &str) -> &str {
    hash.split_once(':').map_or(hash, |(_, rest)| rest)
}

fn short(hash: &str) -> String {
    bare(hash).chars().take(SHORT_HASH).collect()
}

fn source(factory: bool) -> String {
    if factory { "factory" } else { "own" }.into()
}

/// The marker of a newer factory version beside an operator's own active one.
fn newer_factory(value: &Value) -> String {
    match value {
        Value::String(hash) if !hash.is_empty() => format!("newer factory {}", short(hash)),
        Value::Object(version) => match version.get("hash").and_then(Value::as_str) {
            Some(hash) => format!("newer factory {}", short(hash)),
            None => "newer factory version".into(),
        },
        Value::Bool(true) => "newer factory version".into(),
        _ => String::new(),
    }
}

/// Epoch milliseconds as UTC to the second; a string (already a date) as it is.
fn show_time(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(ms) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms))
                .to_string(),
            None => n.to_string(),
        },
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => "-".into(),
    }
}

/// Who did it: an id or e-mail as the Core gives it, or the e-mail / id of an object.
fn show_actor(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Object(o) => ["email", "name", "id"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .unwrap_or("-")
            .to_string(),
        _ => "-".into(),
    }
}

fn show_routes(routes: &[RouteInfo]) -> String {
    if routes.is_empty() {
        return "none".into();
    }
    routes
        .iter()
        .map(|r| match r.auth.as_str() {
            "" => format!("{} {}", r.method, r.path),
            auth => format!("{} {} ({auth})", r.method, r.path),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Jobs as names with their interval when the Core gives objects, or as it gives them.
fn show_jobs(value: &Value) -> String {
    let Some(jobs) = value.as_array() else {
        return String::new();
    };
    jobs.iter()
        .map(|job| match job {
            Value::String(name) => name.clone(),
            Value::Object(o) => {
                let name = o.get("name").and_then(Value::as_str).unwrap_or("?");
                match o.get("intervalMs").and_then(Value::as_u64) {
                    Some(ms) => format!(
                        "{name} (every {})",
                        humantime::format_duration(Duration::from_millis(ms))
                    ),
                    None => name.to_string(),
                }
            }
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// This replica's counters for the active version, as `GET /admin/components` gives them
/// (`calls`, `traps`, `deadlineHits`, `memoryPeakBytes`, since `since` on `replica`).
fn show_stats(value: &Value) -> Option<String> {
    let stats = value.as_object()?;
    let count = |key: &str| stats.get(key).and_then(Value::as_u64);
    let mut parts = Vec::new();
    for (key, label) in [
        ("calls", "calls"),
        ("traps", "traps"),
        ("deadlineHits", "deadline hits"),
    ] {
        if let Some(n) = count(key) {
            parts.push(format!("{label} {n}"));
        }
    }
    if let Some(bytes) = count("memoryPeakBytes") {
        parts.push(format!("memory peak {}", human_size(bytes)));
    }
    if parts.is_empty() {
        return None;
    }
    let mut text = parts.join(", ");
    // The figures are one replica's: say which, so two runs against a balancer are not compared.
    if let Some(replica) = stats.get("replica").and_then(Value::as_str) {
        text.push_str(&format!(", on replica {replica}"));
    }
    if let Some(since) = stats.get("since").filter(|v| !v.is_null()) {
        text.push_str(&format!(" since {}", show_time(since)));
    }
    Some(text)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The arguments as the binary wires them: `nexuma components ...`.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Components(Args),
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let argv = ["nexuma", "components"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Top::Components(args) => args,
        })
    }

    fn listing(value: Value) -> Listing {
        serde_json::from_value(value).expect("listing")
    }

    const H1: &str = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff";
    const H2: &str = "3f2a00000000000000000000000000000000000000000000000000000000000a";
    const H3: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";

    fn sample() -> Listing {
        listing(json!({
            "revision": 7,
            "components": [
                {
                    "name": "auth",
                    "active": { "hash": H3, "factory": true, "activatedAt": 1_765_000_000_000u64,
                                "activatedBy": null },
                    "versions": [{ "hash": H3, "size": 400_000, "factory": true, "routes": [] }],
                    "newerFactory": null,
                    "stats": {}
                },
                {
                    "name": "hello",
                    "active": { "hash": H1, "factory": false, "activatedAt": 1_765_000_060_000u64,
                                "activatedBy": "u-1" },
                    "versions": [
                        { "hash": H1, "size": 125_792, "factory": false, "active": true,
                          "routes": [{ "method": "GET", "path": "/hello/:name", "auth": "public" }],
                          "uploadedAt": 1_765_000_050_000u64, "uploadedBy": "u-1" },
                        { "hash": H2, "size": 1000, "factory": true, "routes": [],
                          "uploadedAt": 1_765_000_000_000u64, "uploadedBy": null }
                    ],
                    "newerFactory": { "hash": H3 },
                    "stats": { "replica": "r1", "since": 1_765_000_060_000u64, "calls": 12,
                               "traps": 0, "deadlineHits": 1, "memoryPeakBytes": 3_145_728 }
                }
            ]
        }))
    }

    #[test]
    fn push_takes_a_file_a_name_and_activate() {
        let args = parse(&["push", "hello.wasm", "--name", "greeter", "--activate"]).expect("ok");
        match args.action {
            Action::Push {
                file,
                name,
                activate,
                canary,
            } => {
                assert_eq!(file, PathBuf::from("hello.wasm"));
                assert_eq!(name.as_deref(), Some("greeter"));
                assert!(activate);
                assert_eq!(canary.body(), None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_takes_a_canary_with_its_window() {
        let args = parse(&["push", "a.wasm", "--canary", "10", "--window", "60"]).expect("ok");
        match args.action {
            Action::Push { canary, .. } => assert_eq!(
                canary.body(),
                Some(json!({ "percent": 10, "windowSeconds": 60 }))
            ),
            other => panic!("{other:?}"),
        }
        // A window without a canary says nothing: refused before anything is sent.
        assert!(parse(&["push", "a.wasm", "--window", "60"]).is_err());
        assert!(matches!(
            parse(&["promote", "hello"]).map(|a| a.action),
            Ok(Action::Promote { name }) if name == "hello"
        ));
    }

    #[test]
    fn the_list_notes_a_running_canary() {
        let mut value = json!({ "components": [{
            "name": "hello",
            "active": { "hash": H1, "factory": false, "activatedAt": 1_765_000_060_000u64 },
            "versions": [],
            "canary": { "hash": H2, "percent": 10, "margin": 0.05,
                        "until": 1_765_000_660_000u64,
                        "counts": { "canary": { "calls": 20, "failures": 1 },
                                    "active": { "calls": 180, "failures": 0 } } }
        }]});
        let text = render_list(&listing(value.clone()));
        assert!(
            text.contains("canary 3f2a00000000 10% until 2025-12-06T05:57:40Z"),
            "{text}"
        );
        let text = render_component(&listing(value.clone()).components[0]);
        assert!(text.contains("margin 5%"), "{text}");
        assert!(
            text.contains("canary 1/20 failed, active 0/180 failed"),
            "{text}"
        );
        value["components"][0]["canary"] = Value::Null;
        assert!(!render_list(&listing(value)).contains("canary"));
    }

    #[test]
    fn url_and_token_are_accepted_after_the_action() {
        let args = parse(&["list", "--url", "http://core:3000", "--token", "t"]).expect("ok");
        assert_eq!(args.url.as_deref(), Some("http://core:3000"));
        assert_eq!(args.token.as_deref(), Some("t"));
        assert!(matches!(args.action, Action::List { name: None }));
    }

    #[test]
    fn a_bad_command_line_is_a_usage_error() {
        for argv in [
            &["push"][..],
            &["activate", "hello"],
            &["rollback"],
            &["frobnicate"],
            &["push", "a.wasm", "--bogus"],
        ] {
            let err = parse(argv).expect_err("usage error");
            assert_eq!(err.exit_code(), 2, "{argv:?}");
        }
    }

    #[test]
    fn the_name_defaults_to_the_file_stem() {
        let name = component_name(Path::new("target/wasm32-wasip2/release/hello.wasm"), None);
        assert_eq!(name.expect("stem"), "hello");
        let name = component_name(Path::new("hello.wasm"), Some(" greeter "));
        assert_eq!(name.expect("flag"), "greeter");
        let err = component_name(Path::new("x.wasm"), Some("  ")).expect_err("empty");
        assert_eq!(err.exit_code(), 2);
        let err = component_name(Path::new("/"), None).expect_err("no stem");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_missing_file_is_a_usage_error_naming_it() {
        let err = Upload::read(Path::new("/nonexistent/hello.wasm"), None).expect_err("missing");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/hello.wasm: "),
            "{err}"
        );
    }

    #[test]
    fn a_token_is_required() {
        assert_eq!(token(None).expect_err("none").exit_code(), 2);
        assert_eq!(token(Some(" ")).expect_err("blank").exit_code(), 2);
        assert_eq!(token(Some("null")).expect_err("jq null").exit_code(), 2);
        assert_eq!(token(Some(" eyJ.x.y\n")).expect("token"), "eyJ.x.y");
    }

    #[test]
    fn the_list_is_an_aligned_table() {
        let text = render_list(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("NAME   ACTIVE        SOURCE   ACTIVATED"));
        assert_eq!(
            lines[1],
            "auth   9e8d7c6b5a4f  factory  2025-12-06T05:46:40Z  0"
        );
        assert_eq!(
            lines[2],
            "hello  3f2a9c1b7d4e  own      2025-12-06T05:47:40Z  1       newer factory 9e8d7c6b5a4f"
        );
        // Every column starts at the same offset on every line.
        let col = lines[0].find("SOURCE").expect("header");
        assert!(lines[1..].iter().all(|l| l[col - 2..col] == *"  "));
    }

    #[test]
    fn an_empty_core_says_so() {
        assert_eq!(
            render_list(&listing(json!({"components": []}))),
            "no components\n"
        );
    }

    #[test]
    fn one_component_shows_its_versions_and_counters() {
        let listing = sample();
        let text = render_component(find(&listing, "hello").expect("hello"));
        assert!(
            text.starts_with(
                "hello: active 3f2a9c1b7d4e (own), since 2025-12-06T05:47:40Z by u-1\n"
            ),
            "{text}"
        );
        assert!(text.contains("newer factory 9e8d7c6b5a4f\n"), "{text}");
        assert!(
            text.contains(
                "served: calls 12, traps 0, deadline hits 1, memory peak 3.0 MiB, on replica \
                 r1 since 2025-12-06T05:47:40Z\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("*  3f2a9c1b7d4e  own      122.8 KiB"),
            "{text}"
        );
        assert!(text.contains("GET /hello/:name (public)"), "{text}");
        let err = find(&listing, "nope").expect_err("unknown");
        assert!(err.to_string().contains("it has: auth, hello"), "{err}");
    }

    #[test]
    fn a_hash_prefix_names_one_version() {
        let listing = sample();
        let hello = find(&listing, "hello").expect("hello");
        assert_eq!(resolve_hash(hello, "3f2a9c").expect("unique"), H1);
        assert_eq!(resolve_hash(hello, H2).expect("full"), H2);
        assert_eq!(
            resolve_hash(hello, &format!("sha256:{H2}")).expect("prefixed"),
            H2
        );
        // An unknown full hash is sent as typed so the Core says why; an unknown prefix is the
        // operator's typo.
        let unknown = "f".repeat(64);
        assert_eq!(resolve_hash(hello, &unknown).expect("unknown"), unknown);
        let err = resolve_hash(hello, "ffff").expect_err("unknown prefix");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("list hello"), "{err}");
        let err = resolve_hash(hello, "3f2a").expect_err("ambiguous");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("3f2a9c1b7d4e, 3f2a00000000"),
            "{err}"
        );
    }

    #[test]
    fn a_push_says_what_was_stored_and_whether_it_serves() {
        let version: Version = serde_json::from_value(json!({
            "name": "hello", "hash": H1, "size": 125_792,
            "routes": [{ "method": "GET", "path": "/hello/:name", "auth": "public" }],
            "jobs": [{ "name": "tick", "intervalMs": 60_000 }],
            "factory": false, "uploadedAt": 1_765_000_050_000u64, "uploadedBy": "u-1",
            "active": true
        }))
        .expect("version");
        let text = describe_push(&version, true, true);
        assert_eq!(
            text,
            format!(
                "stored hello 3f2a9c1b7d4e (122.8 KiB)\n  hash:   {H1}\n  routes: GET \
                 /hello/:name (public)\n  jobs:   tick (every 1m)\nactive: hello now serves \
                 3f2a9c1b7d4e\n"
            )
        );
        let inactive = Version {
            active: false,
            ..version
        };
        let text = describe_push(&inactive, false, false);
        assert!(text.starts_with("already stored hello"), "{text}");
        assert!(
            text.ends_with("not active: nexuma components activate hello 3f2a9c1b7d4e\n"),
            "{text}"
        );
    }

    #[test]
    fn a_change_names_the_version_before_and_after() {
        let before = sample();
        let after = listing(json!({ "components": [
            { "name": "hello", "active": { "hash": H2, "factory": true } }
        ]}));
        assert_eq!(
            describe_change("hello", &before, &after).expect("change"),
            "active: hello now serves 3f2a00000000 (factory; was 3f2a9c1b7d4e)\n"
        );
    }

    #[test]
    fn times_sizes_and_markers_read_well() {
        assert_eq!(show_time(&json!(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            show_time(&json!("2026-01-02T03:04:05Z")),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(show_time(&Value::Null), "-");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(newer_factory(&json!(true)), "newer factory version");
        assert_eq!(newer_factory(&json!(false)), "");
        assert_eq!(newer_factory(&json!(H3)), "newer factory 9e8d7c6b5a4f");
        assert_eq!(
            show_actor(&json!({ "id": "u-1", "email": "a@b.c" })),
            "a@b.c"
        );
    }
}
