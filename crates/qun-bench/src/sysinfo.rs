//! What the machine and its processes say about themselves: the open-file limit, CPU time,
//! memory and syscall counters from `/proc`, and the facts BENCHMARKS.md names.

use std::time::Instant;

use serde::Serialize;

/// Linux reports CPU time in ticks of 1/100 s (`USER_HZ`, fixed for user space on x86-64).
const TICKS_PER_SECOND: f64 = 100.0;

/// Raises this process's open-file limit to its hard limit (children inherit it: the workers
/// and the server the bench starts). Returns the new soft limit.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        limit.maximum.unwrap_or(u64::MAX)
    } else {
        limit.current.unwrap_or(u64::MAX)
    }
}

/// Asks a process to stop (SIGTERM), as a service manager would.
pub fn terminate(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessSample {
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
    /// read-like and write-like syscalls so far (`/proc/<pid>/io`).
    pub syscalls_read: u64,
    pub syscalls_write: u64,
    pub threads: u64,
}

/// Reads `/proc/<pid>/{stat,status,io}`; a vanished process reads as zeros.
pub fn sample_process(pid: u32) -> ProcessSample {
    let mut sample = ProcessSample::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the command name (which may hold spaces) start at field 3 (`state`).
        if let Some(after) = stat.rfind(')').map(|at| &stat[at + 2..]) {
            let fields: Vec<&str> = after.split(' ').collect();
            let ticks = |index: usize| fields.get(index - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            sample.cpu_s = (ticks(14) + ticks(15)) / TICKS_PER_SECOND;
        }
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        sample.rss_kb = status_field(&status, "VmRSS:");
        sample.peak_rss_kb = status_field(&status, "VmHWM:");
        sample.threads = status_field(&status, "Threads:");
    }
    if let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
        sample.syscalls_read = status_field(&io, "syscr:");
        sample.syscalls_write = status_field(&io, "syscw:");
    }
    sample
}

fn status_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Kernel memory of TCP sockets in KB (`/proc/net/sockstat`, `TCP: … mem <pages>`).
pub fn tcp_socket_memory_kb() -> u64 {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("TCP:"))?;
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                if word == "mem" {
                    return words.next()?.parse::<u64>().ok();
                }
            }
            None
        })
        .map_or(0, |pages| pages * 4)
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`, all CPUs: everything but idle
/// and iowait).
pub fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return 0.0 };
    let ticks: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    (total - idle) / TICKS_PER_SECOND
}

/// Counts every syscall a process makes over a window with `perf stat -e
/// raw_syscalls:sys_enter` (the `/proc/<pid>/io` counters miss `send`/`recv`). `None`
/// where perf or its tracepoints are not available.
#[derive(Debug)]
pub struct SyscallCounter {
    child: std::process::Child,
}

impl SyscallCounter {
    pub fn start(pid: u32) -> Option<SyscallCounter> {
        let child = std::process::Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        Some(SyscallCounter { child })
    }

    /// Stops counting (SIGINT, as perf expects) and returns the count.
    pub fn finish(self) -> Option<u64> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)?;
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let output = self.child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&output.stderr);
        text.lines()
            .find(|line| line.contains("raw_syscalls:sys_enter"))
            .and_then(|line| line.split(',').next())
            .and_then(|count| count.trim().parse().ok())
    }
}

/// CPU used by a set of processes over a window: start it, then [`CpuWindow::finish`].
#[derive(Debug, Clone)]
pub struct CpuWindow {
    pids: Vec<u32>,
    started: Instant,
    start: Vec<ProcessSample>,
    machine_busy_start_s: f64,
}

/// The outcome of a [`CpuWindow`].
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuUse {
    pub wall_s: f64,
    pub cpu_s: f64,
    /// `cpu_s / wall_s`: 1.0 is one core fully busy.
    pub cores: f64,
    pub syscalls: u64,
    pub rss_kb_end: u64,
    pub peak_rss_kb: u64,
    /// The whole machine's busy cores over the window (ours and everyone else's).
    pub machine_busy_cores: f64,
}

impl CpuWindow {
    pub fn start(pids: &[u32]) -> CpuWindow {
        CpuWindow {
            pids: pids.to_vec(),
            started: Instant::now(),
            start: pids.iter().map(|&p| sample_process(p)).collect(),
            machine_busy_start_s: machine_busy_s(),
        }
    }

    pub fn finish(&self) -> CpuUse {
        let wall_s = self.started.elapsed().as_secs_f64();
        let end: Vec<ProcessSample> = self.pids.iter().map(|&p| sample_process(p)).collect();
        let mut usage = CpuUse { wall_s, ..CpuUse::default() };
        for (start, end) in self.start.iter().zip(&end) {
            usage.cpu_s += (end.cpu_s - start.cpu_s).max(0.0);
            usage.syscalls +=
                (end.syscalls_read + end.syscalls_write).saturating_sub(start.syscalls_read + start.syscalls_write);
            usage.rss_kb_end += end.rss_kb;
            usage.peak_rss_kb += end.peak_rss_kb;
        }
        usage.cores = if wall_s > 0.0 { usage.cpu_s / wall_s } else { 0.0 };
        usage.machine_busy_cores =
            if wall_s > 0.0 { (machine_busy_s() - self.machine_busy_start_s).max(0.0) / wall_s } else { 0.0 };
        usage
    }
}

/// The machine, as BENCHMARKS.md describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub open_file_limit: u64,
}

pub fn machine(open_file_limit: u64) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
        .map(|model| model.trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb = status_field(&meminfo, "MemTotal:");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        model,
        memory_gib: memory_kb as f64 / (1024.0 * 1024.0),
        kernel,
        open_file_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = sample_process(std::process::id());
        assert!(me.rss_kb > 0 && me.threads >= 1, "{me:?}");
        assert_eq!(status_field("VmRSS:\t  1234 kB\nVmHWM: 9 kB", "VmRSS:"), 1234);
        assert_eq!(status_field("nothing", "VmRSS:"), 0);
    }
}
