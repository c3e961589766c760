//! `proard serve --workers N`: starts N local worker processes and restarts any that dies (a
//! crash, the kernel's OOM killer, a SIGKILL); its job is taken over once its lease expires.
//! Workers on other machines are started there by hand against the same database.

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;

/// How to start one worker process.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Running local workers; stopping (or dropping) it kills them.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

/// Wait before restarting a worker that died, so a worker that cannot start does not spin.
const RESTART_DELAY: Duration = Duration::from_secs(1);

impl Workers {
    pub fn start(command: &WorkerCommand, count: usize) -> Workers {
        let tasks =
            (0..count).map(|slot| tokio::spawn(keep_alive(command.clone(), slot))).collect();
        Workers { tasks }
    }

    /// Kills the workers (their jobs resume elsewhere or at the next start).
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn keep_alive(command: WorkerCommand, slot: usize) {
    loop {
        let child = tokio::process::Command::new(&command.program)
            .args(&command.args)
            .kill_on_drop(true)
            .spawn();
        match child {
            Ok(mut child) => {
                tracing::info!("worker {slot} started (pid {})", child.id().unwrap_or(0));
                match child.wait().await {
                    Ok(status) => tracing::warn!("worker {slot} exited ({status}); restarting"),
                    Err(error) => tracing::warn!("worker {slot}: {error}; restarting"),
                }
            }
            Err(error) => tracing::error!(
                "cannot start worker {slot} ({}): {error}",
                command.program.display()
            ),
        }
        tokio::time::sleep(RESTART_DELAY).await;
    }
}
