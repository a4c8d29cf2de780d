//! Latency percentiles, throughput and process CPU accounting.

use std::time::{Duration, Instant};

/// Latency samples (any order); percentiles sort a copy.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Percentiles (0.0–1.0) by the nearest-rank method; zero when empty.
    pub fn percentiles(&self, ps: &[f64]) -> Vec<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        ps.iter()
            .map(|p| {
                if sorted.is_empty() {
                    return Duration::ZERO;
                }
                let rank = (p * sorted.len() as f64).ceil() as usize;
                sorted[rank.clamp(1, sorted.len()) - 1]
            })
            .collect()
    }

    /// p50, p99 and max.
    pub fn summary(&self) -> Summary {
        let v = self.percentiles(&[0.5, 0.99, 1.0]);
        Summary {
            p50: v[0],
            p99: v[1],
            max: v[2],
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A throughput figure: operations, wall time, and the CPU both processes used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub ops: usize,
    pub elapsed: Duration,
    pub cpu: CpuUse,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ops as f64 / self.elapsed.as_secs_f64()
        }
    }
}

/// CPU time used during a phase by the server, by the bench process, and
/// by the whole machine (all processes; includes steal time).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server: Duration,
    pub bench: Duration,
    pub machine: Duration,
}

impl CpuUse {
    /// CPU used by everything else on the machine (other builds: noise).
    pub fn others(&self) -> Duration {
        self.machine.saturating_sub(self.server + self.bench)
    }

    /// "server 1.23 cores (…), bench 0.45 cores (…), others 0.10 cores" over `wall`.
    pub fn describe(&self, wall: Duration, ops: usize) -> String {
        let w = wall.as_secs_f64().max(1e-9);
        let per_op = |d: Duration| d.as_secs_f64() * 1e6 / ops.max(1) as f64;
        let server = if self.server.is_zero() {
            String::new()
        } else {
            format!(
                "server {:.2} cores ({:.0} µs/op), ",
                self.server.as_secs_f64() / w,
                per_op(self.server)
            )
        };
        format!(
            "CPU: {server}bench {:.2} cores ({:.0} µs/op), other processes {:.2} cores",
            self.bench.as_secs_f64() / w,
            per_op(self.bench),
            self.others().as_secs_f64() / w,
        )
    }
}

/// Process CPU time (user + system, all threads) from `/proc/PID/stat`;
/// zero where that is unreadable. Assumes the usual 100 ticks per second.
pub fn process_cpu(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: indices 11 and 12 here.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Busy CPU time of the whole machine (all CPUs; user, nice, system, irq,
/// softirq and steal) from the first line of `/proc/stat`.
pub fn machine_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let ticks: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Measures wall time and both processes' CPU time over a phase.
pub struct Meter {
    server_pid: Option<u32>,
    started: Instant,
    server_cpu: Duration,
    bench_cpu: Duration,
    machine_cpu: Duration,
}

impl Meter {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            started: Instant::now(),
            server_cpu: server_pid.map(|p| process_cpu(Some(p))).unwrap_or_default(),
            bench_cpu: process_cpu(None),
            machine_cpu: machine_cpu(),
        }
    }

    pub fn stop(&self, ops: usize) -> Rate {
        let elapsed = self.started.elapsed();
        let server = self
            .server_pid
            .map(|p| process_cpu(Some(p)).saturating_sub(self.server_cpu))
            .unwrap_or_default();
        Rate {
            ops,
            elapsed,
            cpu: CpuUse {
                server,
                bench: process_cpu(None).saturating_sub(self.bench_cpu),
                machine: machine_cpu().saturating_sub(self.machine_cpu),
            },
        }
    }
}
