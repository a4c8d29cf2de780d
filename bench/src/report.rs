//! The final markdown tables (the machine description is in `machine.rs`).

use std::fmt::Write as _;

use crate::baseline::BaselineResult;
use crate::scenarios::Measured;
use crate::stats::{ms, Rate};
use crate::watchers::WatchResult;

/// Everything measured against the server.
#[derive(Default)]
pub struct ServerResults {
    pub clients: usize,
    pub creates: Option<Measured>,
    pub populate: Option<Measured>,
    pub gets: Option<Measured>,
    pub lists: Option<(Measured, usize, usize)>,
    pub watch: Option<(WatchResult, usize, usize)>,
}

fn mark(pass: bool) -> &'static str {
    if pass {
        "pass"
    } else {
        "miss"
    }
}

/// Average cores other processes used during a phase (noise).
fn others(rate: &Rate) -> String {
    let wall = rate.elapsed.as_secs_f64().max(1e-9);
    format!("{:.2} cores", rate.cpu.others().as_secs_f64() / wall)
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The results table (markdown), with targets and the storage comparison.
pub fn table(server: &ServerResults, baselines: &[BaselineResult]) -> String {
    let mut t = String::new();
    let c = server.clients;
    let _ = writeln!(
        t,
        "| Figure | Result | p50 | p99 | Target | | Other processes' CPU |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---|---|---:|");
    if let Some(m) = &server.creates {
        let s = m.latency.summary();
        let r = m.rate.per_second();
        let _ = writeln!(
            t,
            "| Durable creates/s ({} ConfigMaps, {c} clients) | {} /s | {} | {} | ≥ 3,000 /s | {} | {} |",
            thousands(m.rate.ops as f64),
            thousands(r),
            ms(s.p50),
            ms(s.p99),
            mark(r >= 3000.0),
            others(&m.rate)
        );
    }
    if let Some(m) = &server.populate {
        let s = m.latency.summary();
        let _ = writeln!(
            t,
            "| Durable creates/s, 2nd sample (filling the LIST namespace) | {} /s | {} | {} | ≥ 3,000 /s | {} | {} |",
            thousands(m.rate.per_second()),
            ms(s.p50),
            ms(s.p99),
            mark(m.rate.per_second() >= 3000.0),
            others(&m.rate)
        );
    }
    if let Some(m) = &server.gets {
        let s = m.latency.summary();
        let r = m.rate.per_second();
        let _ = writeln!(
            t,
            "| GETs/s of existing objects ({} requests, {c} clients) | {} /s | {} | {} | ≥ 20,000 /s | {} | {} |",
            thousands(m.rate.ops as f64),
            thousands(r),
            ms(s.p50),
            ms(s.p99),
            mark(r >= 20000.0),
            others(&m.rate)
        );
    }
    if let Some((m, objects, bytes)) = &server.lists {
        let s = m.latency.summary();
        let _ = writeln!(
            t,
            "| LIST of {} ConfigMaps ({:.1} MB body, {} requests): median | {} | {} | {} | < 150 ms | {} | {} |",
            thousands(*objects as f64),
            *bytes as f64 / 1e6,
            m.latency.len(),
            ms(s.p50),
            ms(s.p50),
            ms(s.p99),
            mark(s.p50.as_secs_f64() < 0.150),
            others(&m.rate)
        );
    }
    if let Some((w, watchers, writes)) = &server.watch {
        let s = w.delay.summary();
        let _ = writeln!(
            t,
            "| Watch delivery delay, {} watchers × {writes} writes: p99 (max {}) | {} | {} | {} | p99 < 50 ms | {} | {} |",
            thousands(*watchers as f64),
            ms(s.max),
            ms(s.p99),
            ms(s.p50),
            ms(s.p99),
            mark(s.p99.as_secs_f64() < 0.050 && w.delivered == w.expected),
            others(&w.rate)
        );
        let a = w.ack.summary();
        let _ = writeln!(
            t,
            "| ↳ deliveries received / expected; watchers that got every event | {} / {}; {} / {} | | | all | {} | |",
            thousands(w.delivered as f64),
            thousands(w.expected as f64),
            thousands(w.complete as f64),
            thousands(*watchers as f64),
            mark(w.delivered == w.expected && w.unexpected == 0)
        );
        let _ = writeln!(
            t,
            "| ↳ the same writes' create latency (write-start → 201) | | {} | {} | | | |",
            ms(a.p50),
            ms(a.p99)
        );
    }
    if !baselines.is_empty() {
        let server_rate = server.creates.as_ref().map(|m| m.rate.per_second());
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "| Storage baseline (one process, no server, no HTTP) | creates/s | p50 | p99 | server creates/s as % of it |"
        );
        let _ = writeln!(t, "|---|---:|---:|---:|---:|");
        for b in baselines {
            let s = b.latency.summary();
            let share = server_rate
                .filter(|_| b.rate.per_second() > 0.0)
                .map(|r| format!("{:.0} %", 100.0 * r / b.rate.per_second()))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                t,
                "| {} ({} objects) | {} /s | {} | {} | {share} |",
                b.name,
                thousands(b.rate.ops as f64),
                thousands(b.rate.per_second()),
                ms(s.p50),
                ms(s.p99),
            );
        }
    }
    t
}

/// One line per phase: how busy each process was.
pub fn cpu_lines(server: &ServerResults) -> String {
    let mut out = String::new();
    let mut line = |name: &str, m: &Measured| {
        let _ = writeln!(
            out,
            "- {name}: {} over {:.1} s; {}",
            thousands(m.rate.ops as f64),
            m.rate.elapsed.as_secs_f64(),
            m.rate.cpu.describe(m.rate.elapsed, m.rate.ops)
        );
    };
    if let Some(m) = &server.creates {
        line("creates", m);
    }
    if let Some(m) = &server.gets {
        line("GETs", m);
    }
    if let Some((m, ..)) = &server.lists {
        line("LISTs", m);
    }
    if let Some((w, ..)) = &server.watch {
        let _ = writeln!(
            out,
            "- watch deliveries: {} over {:.1} s; {} (opening the watches took {:.2} s)",
            thousands(w.rate.ops as f64),
            w.rate.elapsed.as_secs_f64(),
            w.rate.cpu.describe(w.rate.elapsed, w.rate.ops),
            w.open_time.as_secs_f64()
        );
    }
    out
}
