//! The coordinator's side of the workers: it re-executes this binary as `qun-bench worker`
//! (pinned with `taskset` when asked), talks to each over stdin/stdout JSON lines, and hands
//! out fresh loopback source addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::protocol::{Command, Event};

/// Connections per source address: well under the 28,232 ephemeral ports of one address,
/// leaving room for the ports a closed connection holds for 60 s.
pub const CONNECTIONS_PER_SOURCE_ADDRESS: usize = 10_000;
/// Connections per worker process: each holds at most 20,000 open files.
pub const CONNECTIONS_PER_WORKER: usize = 7_000;

/// The worker processes of one run.
pub struct Fleet {
    workers: Vec<WorkerProcess>,
}

struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
    pid: u32,
}

impl Fleet {
    /// Starts `count` workers, pinned to `cpus` (a `taskset -c` list) when given.
    pub async fn spawn(count: usize, cpus: Option<&str>) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe().context("locating the qun-bench binary")?;
        let mut workers = Vec::new();
        for _ in 0..count.max(1) {
            let mut command = match cpus {
                Some(cpus) => {
                    let mut command = tokio::process::Command::new("taskset");
                    command.arg("-c").arg(cpus).arg(&exe);
                    command
                }
                None => tokio::process::Command::new(&exe),
            };
            command.arg("worker").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
            command.kill_on_drop(true);
            let mut child = command.spawn().context("starting a worker")?;
            let pid = child.id().context("worker pid")?;
            let stdin = child.stdin.take().context("worker stdin")?;
            let events = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
            workers.push(WorkerProcess { child, stdin, events, pid });
        }
        Ok(Fleet { workers })
    }

    /// How many workers there are.
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }

    /// Sends `commands[i]` to worker `i` (none where `None`), then waits for each addressed
    /// worker's answer. A worker that fails the command fails the exchange.
    pub async fn exchange(&mut self, commands: Vec<Option<Command>>) -> anyhow::Result<Vec<Option<Event>>> {
        for (worker, command) in self.workers.iter_mut().zip(&commands) {
            if let Some(command) = command {
                let mut line = serde_json::to_vec(command)?;
                line.push(b'\n');
                worker.stdin.write_all(&line).await.context("writing to a worker")?;
                worker.stdin.flush().await?;
            }
        }
        let mut events = Vec::new();
        for (worker, command) in self.workers.iter_mut().zip(&commands) {
            if command.is_none() {
                events.push(None);
                continue;
            }
            let line = worker.events.next_line().await?.context("a worker exited")?;
            let event: Event = serde_json::from_str(&line).with_context(|| format!("worker said {line:?}"))?;
            if let Event::Failed { error } = &event {
                bail!("worker {} failed: {error}", worker.pid);
            }
            events.push(Some(event));
        }
        Ok(events)
    }

    /// The same command to every worker.
    pub async fn broadcast(&mut self, command: Command) -> anyhow::Result<Vec<Event>> {
        let commands = (0..self.workers.len()).map(|_| Some(command.clone())).collect();
        Ok(self.exchange(commands).await?.into_iter().flatten().collect())
    }

    /// Closes the workers' connections and ends them.
    pub async fn shutdown(mut self) {
        let _ = self.broadcast(Command::Disconnect).await;
        let mut children = Vec::new();
        for worker in self.workers {
            // Closing stdin (dropping it) ends the worker's command loop.
            drop(worker.stdin);
            children.push(worker.child);
        }
        for mut child in children {
            if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

/// Hands out loopback source addresses 127.0.0.2, 127.0.0.3, … that no earlier run used
/// recently: closed connections keep their ports for 60 s, so each run continues where the
/// last one stopped (the position is kept in `state_file`).
#[derive(Debug)]
pub struct SourceAddresses {
    next: u32,
    state_file: std::path::PathBuf,
}

/// Addresses cycle through 127.0.0.2 … 127.3.255.255 (some 260,000).
const SOURCE_ADDRESS_CYCLE: u32 = 1 << 18;

impl SourceAddresses {
    pub fn load(state_file: &Path) -> SourceAddresses {
        let next = std::fs::read_to_string(state_file).ok().and_then(|text| text.trim().parse().ok()).unwrap_or(0);
        SourceAddresses { next, state_file: state_file.to_owned() }
    }

    /// `count` fresh addresses.
    pub fn take(&mut self, count: usize) -> Vec<IpAddr> {
        let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
        let addresses = (0..count.max(1) as u32)
            .map(|offset| IpAddr::V4(Ipv4Addr::from(first + (self.next + offset) % SOURCE_ADDRESS_CYCLE)))
            .collect();
        self.next = (self.next + count.max(1) as u32) % SOURCE_ADDRESS_CYCLE;
        let _ = std::fs::write(&self.state_file, self.next.to_string());
        addresses
    }

    /// Fresh addresses for `connections` connections.
    pub fn for_connections(&mut self, connections: usize) -> Vec<IpAddr> {
        self.take(connections.div_ceil(CONNECTIONS_PER_SOURCE_ADDRESS))
    }
}

/// Splits `items` into `parts` nearly equal consecutive runs.
pub fn split_evenly<T: Clone>(items: &[T], parts: usize) -> Vec<Vec<T>> {
    let parts = parts.max(1);
    let base = items.len() / parts;
    let extra = items.len() % parts;
    let mut start = 0;
    (0..parts)
        .map(|part| {
            let len = base + usize::from(part < extra);
            let run = items[start..start + len].to_vec();
            start += len;
            run
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_continue_across_runs() {
        let dir = std::env::temp_dir().join(format!("qun-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sources");
        let _ = std::fs::remove_file(&file);
        let first = SourceAddresses::load(&file).take(2);
        assert_eq!(first, ["127.0.0.2".parse::<IpAddr>().unwrap(), "127.0.0.3".parse().unwrap()]);
        let next = SourceAddresses::load(&file).for_connections(CONNECTIONS_PER_SOURCE_ADDRESS + 1);
        assert_eq!(next, ["127.0.0.4".parse::<IpAddr>().unwrap(), "127.0.0.5".parse().unwrap()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn splitting_keeps_every_item_once() {
        let parts = split_evenly(&(0..10).collect::<Vec<_>>(), 3);
        assert_eq!(parts, [vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]);
        assert_eq!(split_evenly::<u8>(&[], 2), [Vec::<u8>::new(), vec![]]);
    }
}
