//! The component-swaps part of `BENCHMARKS.md` (issue 17): its method, its tables and its goal.

use std::fmt::Write as _;
use std::time::Duration;

use super::{fmt_ms, not_done, one_line, Section};
use crate::load::Outcome;
use crate::stats::format_us;
use crate::swaps::{self, SwapsRun};

/// Every replica serves a swap within this (the max over the timed swaps).
const SWAP_GOAL: Duration = Duration::from_secs(1);
/// The load's p99 during swaps may be at most this many times the p99 without.
const P99_RATIO_GOAL: f64 = 1.5;

/// The Method bullet, without a line end.
pub fn method(md: &mut String, warmup: &str, measure: &str) {
    let _ = write!(
        md,
        "- **Component swaps** (servers backend only): {replicas} `nexuma serve` replicas on one \
         PostgreSQL database and one Redis key prefix, each with its own port, data directory \
         and components folder holding `auth` and the test component `versioned` (its factory \
         build answers `GET {route}` with version \"1\"). An administrator uploads \
         `versioned_next.wasm` (the same component answering \"2\") under the name `versioned` \
         through the first replica's `POST /admin/components`, not activated. **Swap latency**: \
         {swaps} swaps in a row through the first replica's \
         `POST /admin/components/versioned/activate`, alternating the two builds' hashes (each \
         answer must be 200 with that hash active), {settle} ms apart; from sending the \
         activation, each replica is asked `GET {route}` every {poll} ms on its own keep-alive \
         connection until it answers 200 with the new version (any other answer fails the run), \
         and a swap is done when every replica has; the other replicas follow by \
         themselves (the activation's announcement, or the revision read on a timer). **Load \
         during swaps**: `GET {route}` with {connections} connections spread over the \
         {replicas} replicas in turn, {warmup} s \
         warm-up and {measure} s measured, first without swaps, then the same with the other \
         build activated every {every} ms through the first replica (warm-up included); an \
         answer counts only when it is 200 with version \"1\" or \"2\", anything else is an \
         error. After the loaded run every replica must serve the last activated version.",
        replicas = swaps::REPLICAS,
        route = swaps::ROUTE,
        swaps = swaps::SWAPS,
        settle = swaps::SETTLE.as_millis(),
        poll = swaps::POLL_EVERY.as_millis(),
        connections = swaps::CONNECTIONS,
        every = swaps::SWAP_EVERY.as_millis(),
    );
}

pub fn section(md: &mut String, section: &Section<SwapsRun>) {
    md.push_str("## Component swaps: three replicas following an activation (servers backend)\n\n");
    let run = match section {
        Section::Done(run) => run,
        other => return not_done(md, other),
    };
    let _ = writeln!(
        md,
        "Swap latency over {} swaps, from sending the activation until the replica answers the \
         new version:\n",
        run.swaps.len()
    );
    md.push_str("| | p50 | max |\n| --- | ---: | ---: |\n");
    let answered = run.answered();
    let _ = writeln!(
        md,
        "| the activation's answer (replica 1 swaps before answering) | {} | {} |",
        fmt_ms(answered.p50),
        fmt_ms(answered.max)
    );
    for i in 0..swaps::REPLICAS {
        let s = run.replica(i);
        let _ = writeln!(
            md,
            "| replica {} serves it | {} | {} |",
            i + 1,
            fmt_ms(s.p50),
            fmt_ms(s.max)
        );
    }
    let all = run.all();
    let _ = writeln!(
        md,
        "| **every replica serves it** | **{}** | **{}** |\n",
        fmt_ms(all.p50),
        fmt_ms(all.max)
    );
    let _ = writeln!(
        md,
        "`GET {}` under load, {} connections over {} replicas:\n",
        swaps::ROUTE,
        swaps::CONNECTIONS,
        swaps::REPLICAS
    );
    md.push_str("| run | req/s | p50 | p99 | errors |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (label, o) in [
        ("without swaps".to_string(), &run.quiet),
        (
            format!("a swap every {} ms", swaps::SWAP_EVERY.as_millis()),
            &run.swapping,
        ),
    ] {
        super::outcome_row(md, &label, o);
    }
    md.push('\n');
    for (label, o) in [
        ("Without swaps", &run.quiet),
        ("During swaps", &run.swapping),
    ] {
        if let Some(e) = &o.first_error {
            let _ = writeln!(md, "- {label}: first error: `{}`", one_line(e));
        }
    }
    if run.quiet.first_error.is_some() || run.swapping.first_error.is_some() {
        md.push('\n');
    }
    let every = swaps::SWAP_EVERY.as_millis();
    let _ = writeln!(
        md,
        "{} activations were made during the loaded run, warm-up included (one every {every} ms, or as soon as the previous one answered when that took longer), each answered 200 \
         with its version active, after p50 {}, max {} (without load: p50 {}, max {}); every \
         replica served the last one {} after the load ended.\n",
        run.swaps_under_load,
        fmt_ms(run.answered_under_load.p50),
        fmt_ms(run.answered_under_load.max),
        fmt_ms(answered.p50),
        fmt_ms(answered.max),
        fmt_ms(run.settled_after)
    );
}

pub fn goals(md: &mut String, section: &Section<SwapsRun>, first: usize) {
    let _ = writeln!(
        md,
        "{first}. **A component swap reaches every replica within 1 s, with zero errors and the \
         load route's p99 during swaps within 1.5× of without.**\n   - {}",
        verdict_of(section)
    );
}

pub fn summary(section: &Section<SwapsRun>) -> String {
    format!("component swaps: {}", verdict_of(section))
}

fn verdict_of(section: &Section<SwapsRun>) -> String {
    match section {
        Section::Done(run) => verdict(run.all().max, run.swaps.len(), &run.quiet, &run.swapping),
        Section::Skipped(_) => "not measured (skipped, see above).".into(),
        Section::Failed(_) => "not measured (the run failed, see above).".into(),
    }
}

/// Met only when the slowest swap reached every replica within [`SWAP_GOAL`], neither load run
/// had an error, and the p99 during swaps is within [`P99_RATIO_GOAL`] of the p99 without.
fn verdict(slowest: Duration, swaps: usize, quiet: &Outcome, swapping: &Outcome) -> String {
    let in_time = slowest < SWAP_GOAL;
    let errors = quiet.errors + swapping.errors;
    let ratio = if quiet.latency.p99_us > 0.0 {
        swapping.latency.p99_us / quiet.latency.p99_us
    } else {
        f64::INFINITY
    };
    let held = ratio <= P99_RATIO_GOAL;
    let mut missed = Vec::new();
    if !in_time {
        missed.push("a swap took 1 s or more");
    }
    if errors > 0 {
        missed.push("requests failed");
    }
    if !held {
        missed.push("the p99 during swaps is over 1.5× of without");
    }
    let head = if missed.is_empty() {
        "**met**".to_string()
    } else {
        format!("**missed** ({})", missed.join("; "))
    };
    format!(
        "{head}: every replica served each of {swaps} swaps within {} at most (goal < 1 s); \
         {errors} errors ({} without swaps, {} during); p99 during swaps {} against {} without, \
         {ratio:.2}× (goal ≤ 1.5×; {:.0} against {:.0} req/s).",
        fmt_ms(slowest),
        quiet.errors,
        swapping.errors,
        format_us(swapping.latency.p99_us),
        format_us(quiet.latency.p99_us),
        swapping.per_sec,
        quiet.per_sec,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    fn outcome(p99_us: f64, errors: u64) -> Outcome {
        Outcome {
            per_sec: 3000.0,
            latency: Summary {
                p50_us: 2000.0,
                p99_us,
                mean_us: 2100.0,
            },
            errors,
            first_error: None,
            connects: 16,
            answered: 30_000,
        }
    }

    #[test]
    fn met_when_fast_clean_and_steady() {
        let text = verdict(
            Duration::from_millis(612),
            20,
            &outcome(8000.0, 0),
            &outcome(10_000.0, 0),
        );
        assert!(text.starts_with("**met**: "), "{text}");
        assert!(text.contains("within 612 ms"), "{text}");
        assert!(text.contains("0 errors"), "{text}");
        assert!(text.contains("1.25×"), "{text}");
    }

    #[test]
    fn each_shortfall_is_named() {
        let slow = verdict(
            Duration::from_millis(1_000),
            20,
            &outcome(8000.0, 0),
            &outcome(8000.0, 0),
        );
        assert!(
            slow.starts_with("**missed** (a swap took 1 s or more): "),
            "{slow}"
        );
        let all = verdict(
            Duration::from_millis(1_500),
            20,
            &outcome(8000.0, 1),
            &outcome(12_100.0, 2),
        );
        assert!(
            all.starts_with(
                "**missed** (a swap took 1 s or more; requests failed; the p99 during swaps is \
                 over 1.5× of without): "
            ),
            "{all}"
        );
        assert!(
            all.contains("3 errors (1 without swaps, 2 during)"),
            "{all}"
        );
        assert!(all.contains("1.51×"), "{all}");
    }
}
