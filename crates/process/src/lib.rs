#![doc = include_str!("../README.md")]
//!
//! `kill_on_drop` stops a child whenever its job ends while the server lives, but nothing of ours
//! runs when the server is killed with SIGKILL. So on Linux every child is started with its
//! parent-death signal set to SIGKILL (`prctl(PR_SET_PDEATHSIG)` between fork and exec): the
//! kernel kills it when its parent goes, however that happens. The `ur-taking-me-with-you` crate
//! does the `prctl` (this workspace forbids unsafe code, and a `pre_exec` hook needs it).
//!
//! The kernel sends that signal when the *thread* that forked the child ends, not the process.
//! A child forked on whichever thread polls the job would be killed mid-transcode if that thread
//! ended while the server lives on: Tokio's blocking-pool threads end after idling, and a runtime
//! worker turns into one in `block_in_place`. So every child is forked by one thread of ours that
//! lives exactly as long as the process.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

struct Request {
    command: Command,
    /// The caller's runtime: the child is registered with it, as if the caller had spawned it.
    runtime: Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// The spawner thread's inbox. Held here for good, so the thread never runs out of work to wait
/// for and ends only with the process.
static SPAWNER: LazyLock<Result<mpsc::Sender<Request>, String>> = LazyLock::new(start_spawner);

fn start_spawner() -> Result<mpsc::Sender<Request>, String> {
    let (inbox, requests) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("kanjian-spawner".into())
        .spawn(move || {
            for Request {
                command,
                runtime,
                reply,
            } in requests
            {
                let _entered = runtime.enter();
                // A panic here must not end the thread: that would kill every child it started.
                let spawned = std::panic::catch_unwind(AssertUnwindSafe(|| spawn_here(command)))
                    .unwrap_or_else(|_| Err(io::Error::other("starting the process panicked")));
                // A caller that gave up drops the child right here, and `kill_on_drop` stops it.
                let _ = reply.send(spawned);
            }
        })
        .map_err(|e| format!("could not start the thread that starts child processes: {e}"))?;
    Ok(inbox)
}

#[cfg(target_os = "linux")]
fn spawn_here(command: Command) -> io::Result<Child> {
    ur_taking_me_with_you::spawn_dying_with_parent_async(command)
}

/// Elsewhere the crate cannot do it for a program that does not cooperate (macOS needs the child
/// to watch a pipe, and leaks one per spawn), so children are started as they are.
#[cfg(not(target_os = "linux"))]
fn spawn_here(mut command: Command) -> io::Result<Child> {
    command.spawn()
}

/// Starts `command` so that the child dies with this process, even by SIGKILL (Linux). Must be
/// called within a Tokio runtime; the `Command`'s own settings (`kill_on_drop`, pipes) apply.
pub async fn spawn(command: Command) -> io::Result<Child> {
    let inbox = SPAWNER.as_ref().map_err(|e| io::Error::other(e.clone()))?;
    let runtime = Handle::try_current().map_err(io::Error::other)?;
    let (reply, answer) = oneshot::channel();
    let gone = || io::Error::other("the thread that starts child processes is gone");
    inbox
        .send(Request {
            command,
            runtime,
            reply,
        })
        .map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What PR_SET_PDEATHSIG alone gets wrong: the thread that asks for a child ends (as an idle
    /// blocking-pool thread does) while the process lives on. The child must live on too.
    #[test]
    fn a_child_outlives_the_thread_that_asked_for_it() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let mut child = std::thread::spawn(move || {
            let mut sleep = Command::new("sleep");
            sleep.arg("30").kill_on_drop(true);
            handle.block_on(spawn(sleep)).unwrap()
        })
        .join()
        .unwrap();
        runtime.block_on(async {
            // The thread is gone; a parent-death signal tied to it would arrive at once.
            let ended = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
            assert!(
                ended.is_err(),
                "the child ended with the thread that asked for it: {ended:?}"
            );
            child.kill().await.unwrap();
        });
    }

    #[tokio::test]
    async fn a_program_that_cannot_be_found_is_an_io_error() {
        let e = spawn(Command::new("/nonexistent/ffmpeg"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
