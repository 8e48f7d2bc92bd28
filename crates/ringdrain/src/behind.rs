//! Write-behind: the file output's `write(2)` on a thread of its own (or, with format workers,
//! on theirs: [`WriteBehind::on_pool`]), so the drain thread reads and formats the next batch
//! while the kernel copies this one into the file (issue 13: on tmpfs the copy is 60-80 ns a
//! text line, about a quarter of what the drain thread did per line).
//!
//! The checkpoint protocol is unchanged; only who waits moves. The drain thread prepares the
//! file (reopen, rotation), begins the batch's checkpoint and hands the bytes over; it releases
//! the batch's records (to the mark it took when the batch ended, [`Reader::release_to`]) and
//! finishes the checkpoint only when the write came back whole. Records read meanwhile stay
//! unreleased, as any record read but not yet written always has. So at every instant at most
//! one batch is begun and not finished, the one being written, as before: a drain killed
//! anywhere is reconciled by the next one exactly as today (the batch is cut back, written
//! again or skipped), and records it read past the batch are still in the ring.
//!
//! One batch is in flight at a time, and the drain settles it (waits for it, then releases)
//! before it touches the file again, before a SIGHUP reopen, and whenever a poll finds nothing
//! new, so an idle drain holds nothing back. A batch that ran the ring dry is written on the
//! drain thread itself: at a low rate the hand-over would only add a thread wake-up to each
//! record's way to the file.
//!
//! [`Reader::release_to`]: ringlog_segment::reader::Reader::release_to

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use ringlog_segment::reader::Positions;

use crate::parallel::Task;
use crate::sink::append_whole;

/// What the drain must do when the batch in flight is written: per contributing ring (by
/// index into the drain's sources), the mark to release to and the drop total to record as
/// reported.
#[derive(Debug)]
pub struct Flight {
    /// (source index, release mark, drop total the batch reported).
    pub marks: Vec<(usize, Positions, Option<u64>)>,
    /// Where the batch starts in the file.
    pub before: u64,
}

/// A batch's write coming back: its bytes and how the write went.
struct Done {
    buf: Vec<u8>,
    result: io::Result<()>,
}

/// Work for whichever thread writes.
type Work = Box<dyn FnOnce() + Send>;

/// Who runs the writes.
enum Runner {
    /// A thread of its own, fed one batch at a time.
    Thread {
        tasks: Option<SyncSender<Work>>,
        thread: Option<JoinHandle<()>>,
    },
    /// The format pool's queue (its workers write too).
    Pool(Sender<Task>),
}

/// A settled batch: what it was, its bytes, and how its write went.
pub struct Settled {
    /// What to release and finish.
    pub flight: Flight,
    /// The batch's bytes (to write again, on the drain thread, after an error).
    pub buf: Vec<u8>,
    /// The write's outcome; on error the file was cut back to where the batch began.
    pub result: io::Result<()>,
}

/// The write-behind thread (or the format pool) and the one batch it may hold.
pub struct WriteBehind {
    runner: Runner,
    /// The batch in flight and where its write comes back (a channel per batch, whose one
    /// sender goes with the write: a write that never runs is an error, not a wait).
    flight: Option<(Flight, Receiver<Done>)>,
    /// The buffer the next batch is formatted into, swapped with the one handed over.
    spare: Vec<u8>,
}

impl std::fmt::Debug for WriteBehind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehind")
            .field("flight", &self.flight.as_ref().map(|(f, _)| f))
            .finish_non_exhaustive()
    }
}

impl WriteBehind {
    /// Starts the thread.
    pub fn start() -> io::Result<WriteBehind> {
        let (tasks, rx) = mpsc::sync_channel::<Work>(1);
        let thread = std::thread::Builder::new()
            .name("ringdrain-write".into())
            .spawn(move || {
                for work in rx {
                    work();
                }
            })?;
        Ok(WriteBehind::with(Runner::Thread {
            tasks: Some(tasks),
            thread: Some(thread),
        }))
    }

    /// Write-behind on the format pool's threads (`--format-threads` > 1) instead of a thread
    /// of its own.
    pub fn on_pool(runner: Sender<Task>) -> WriteBehind {
        WriteBehind::with(Runner::Pool(runner))
    }

    fn with(runner: Runner) -> WriteBehind {
        WriteBehind {
            runner,
            flight: None,
            spare: Vec::new(),
        }
    }

    /// The drop total the batch in flight reports for source `source`, if it reports one
    /// (the segment learns of it only when the batch is settled).
    pub fn dropped_in_flight(&self, source: usize) -> Option<u64> {
        let (flight, _) = self.flight.as_ref()?;
        flight
            .marks
            .iter()
            .find_map(|&(i, _, dropped)| if i == source { dropped } else { None })
    }

    /// Hands `out` (the sealed batch, which must start at `flight.before` in `file`) to the
    /// thread, leaving an empty buffer with capacity in its place.
    ///
    /// # Panics
    /// If a batch is still in flight ([`WriteBehind::settle`] it first).
    pub fn send(&mut self, file: Arc<File>, out: &mut Vec<u8>, flight: Flight) {
        assert!(self.flight.is_none(), "one batch in flight at a time");
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        std::mem::swap(&mut buf, out);
        let before = flight.before;
        let (tx, rx) = mpsc::sync_channel::<Done>(1);
        self.flight = Some((flight, rx));
        let work: Work = Box::new(move || {
            let result = append_whole(&file, before, &buf);
            let _ = tx.send(Done { buf, result });
        });
        // A send fails only if the runner is gone: the work (and its sender) is dropped with
        // it, and `settle` reports that.
        match &self.runner {
            Runner::Thread { tasks, .. } => {
                if let Some(tasks) = tasks {
                    let _ = tasks.send(work);
                }
            }
            Runner::Pool(queue) => {
                let _ = queue.send(Task::Run(work));
            }
        }
    }

    /// Waits for the batch in flight, if any. Err if the write was lost with its thread: its
    /// bytes are gone, so the drain must stop without releasing it (the next drain's
    /// reconciliation deals with whatever reached the file, as after a crash).
    pub fn settle(&mut self) -> anyhow::Result<Option<Settled>> {
        let Some((flight, done)) = self.flight.take() else {
            return Ok(None);
        };
        match done.recv() {
            Ok(Done { buf, result }) => Ok(Some(Settled {
                flight,
                buf,
                result,
            })),
            Err(_) => anyhow::bail!(
                "the write-behind thread is gone with a batch; its records stay in the ring"
            ),
        }
    }

    /// Takes back a settled batch's buffer for the next hand-over.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.spare = buf;
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // Closing the channel ends the thread after the write it holds (a drain leaving on an
        // error lets the write finish rather than tear it; the checkpoint stays begun). The
        // pool's workers are the pool's to end.
        if let Runner::Thread { tasks, thread } = &mut self.runner {
            *tasks = None;
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}
