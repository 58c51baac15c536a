//! The open-transaction rule: while a task holds a module's transaction, it may not reach another
//! module's database, which it only could through that module's API. With one SQLite writer such
//! a call that writes waits for the connection its own transaction holds, until the acquire
//! timeout; on PostgreSQL it would act outside the transaction it seems to be part of.
//!
//! A module's own further statements are not flagged: `join!` runs several futures of one
//! module in one task (two racing sign-ups in a test), each with its own transaction, and they
//! do not wait on each other. Tracked per tokio task; a future driven by `block_on` (a
//! `#[tokio::test]` body, a CLI) has no task id and is tracked by its thread, which it never
//! leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use tokio::task::Id as TaskId;

/// Who is running: a tokio task, or a future driven by `block_on` on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Runner {
    Task(TaskId),
    BlockOn(ThreadId),
}

impl Runner {
    fn current() -> Self {
        match tokio::task::try_id() {
            Some(task) => Self::Task(task),
            None => Self::BlockOn(std::thread::current().id()),
        }
    }
}

/// Which task (or `block_on` thread) holds a transaction, and for which module.
#[derive(Default, Clone)]
pub(crate) struct OpenTransactions {
    by_runner: Arc<Mutex<HashMap<Runner, Vec<&'static str>>>>,
}

impl OpenTransactions {
    /// Checks that `module` may use the database from the current task now.
    pub(crate) fn check(&self, module: &'static str) {
        let runner = Runner::current();
        let holder = match self.by_runner.lock() {
            Ok(open) => open.get(&runner).and_then(|modules| modules.iter().find(|m| **m != module).copied()),
            Err(_) => return,
        };
        if let Some(holder) = holder {
            broken(&format!(
                "module `{module}`'s database was used while module `{holder}`'s transaction is open \
                 on this task: call other modules before `begin()` or after `commit()`"
            ));
        }
    }

    /// Records a transaction of `module` on the current task until the guard drops.
    pub(crate) fn opened(&self, module: &'static str) -> OpenGuard {
        let runner = Runner::current();
        if let Ok(mut open) = self.by_runner.lock() {
            open.entry(runner).or_default().push(module);
        }
        OpenGuard { open: self.clone(), runner, module }
    }
}

/// Removes its transaction from [`OpenTransactions`] when dropped.
pub(crate) struct OpenGuard {
    open: OpenTransactions,
    runner: Runner,
    module: &'static str,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.by_runner.lock()
            && let Some(modules) = open.get_mut(&self.runner)
        {
            if let Some(at) = modules.iter().position(|m| *m == self.module) {
                modules.swap_remove(at);
            }
            if modules.is_empty() {
                open.remove(&self.runner);
            }
        }
    }
}

#[cfg(debug_assertions)]
fn broken(message: &str) {
    // Every test runs a debug build: a module that breaks the rule fails the test that reached it.
    panic!("database rule broken: {message}");
}

#[cfg(not(debug_assertions))]
fn broken(message: &str) {
    tracing::error!("database rule broken: {message}");
}
