//! Background jobs: declared by components, run by the host's scheduler, once per tick across
//! replicas.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Core, Options};

async fn ticks(core: &Core) -> i64 {
    core.get("/test/ticks", None).await.body["ticks"]
        .as_i64()
        .expect("ticks")
}

both_backends!(declared_jobs_run_on_their_schedule, |backend| async move {
    let core = Core::start(backend).await;
    let health = core.get("/health", None).await;
    let probe = health.body["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "probe"))
        .expect("probe loaded");
    assert_eq!(probe["jobs"], serde_json::json!(["tick", "fail"]));

    let deadline = Instant::now() + Duration::from_secs(20);
    while ticks(&core).await < 3 {
        assert!(
            Instant::now() < deadline,
            "the tick job never ran 3 times:\n{}",
            core.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A failing job is logged and counted, and does not stop the others.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = core.get("/metrics", None).await.text;
        let failed = metrics
            .contains(r#"nexuma_job_runs_total{component="probe",job="fail",outcome="error"}"#);
        let ok =
            metrics.contains(r#"nexuma_job_runs_total{component="probe",job="tick",outcome="ok"}"#);
        if failed && ok {
            break;
        }
        assert!(Instant::now() < deadline, "job metrics missing:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        core.log().contains("probe: deliberate job failure"),
        "the job's error reaches the log"
    );
});

/// Two Core replicas on one PostgreSQL and one Redis: each tick runs on one of them only, so
/// together they run the job about as often as one replica would — never twice as often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tick_runs_on_one_replica_only() {
    let first = Core::start_with(Backend::Servers, Options::default().components(&["probe"])).await;
    let mut second = Core::prepare(Backend::Servers, Options::default().components(&["probe"]));
    second.share_stores_with(&first);
    second.spawn().await;

    let window = Duration::from_secs(3);
    let start = ticks(&first).await;
    tokio::time::sleep(window).await;
    let ran = ticks(&first).await - start;
    // One replica ticks every 200 ms: at most window/200ms + 1 runs, plus one for the edges.
    let one_replica_max = (window.as_millis() / 200) as i64 + 2;
    assert!(ran >= 2, "the job ran ({ran})");
    assert!(
        ran <= one_replica_max,
        "{ran} runs in {window:?}: more than one replica ran a tick (max {one_replica_max})"
    );
    for core in [&first, &second] {
        let m = core.get("/metrics", None).await.text;
        assert!(
            m.contains("nexuma_job_runs_total"),
            "both replicas took part:\n{m}"
        );
    }
}
