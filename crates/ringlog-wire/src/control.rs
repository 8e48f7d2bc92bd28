//! The control page: filter directives set from outside the producers (`ringdrain level`) that
//! every producer process of the segment applies, without a restart and without any IPC beyond
//! the segment.
//!
//! ```text
//! offset  size   field
//! 0       8      generation  bumped (Release) after every completed change; 0: never set
//! 8       8      writer      pid holding the write lock (0: free); a dead holder is taken over
//! 16      8      seq         the seqlock's sequence: odd while a change is being written
//! 24      4072   words[509]  under the seqlock: word 0 = ACTIVE bit (63) | text length,
//!                            word 1 = setter pid, word 2 = set time (Unix ns),
//!                            words 3.. = the directives text (UTF-8, at most 4048 bytes)
//! ```
//!
//! **Readers** (every producer) compare, on each log call, one Relaxed load of `generation`
//! with the generation they last applied (that is the whole hot-path cost). On a difference they
//! take the slow path, [`ControlBlock::read`]: an Acquire load of `generation`, then the words
//! under the seqlock, and they remember the generation they loaded. Why that never misses a
//! change: the Acquire load of `generation` = g synchronises with the Release increment that
//! made it g, which follows that change's seqlock write, so the words read are that change's or
//! a later one's; a later one also bumps `generation` past g, so the reader reads again on its
//! next call. A read that finds a write in progress (odd `seq`, [`ControlReadError::Busy`]) may
//! keep its old settings and remember g all the same: the write in progress bumps `generation`
//! when it completes.
//!
//! **Writers** ([`ControlBlock::set`]) take the write lock (a CAS of their pid into `writer`; a
//! holder that died is taken over), write the words under the seqlock (Boehm's seqlock with
//! atomic data words: "Can seqlocks get along with programming language memory models?",
//! MSPC 2012), bump `generation` with Release, and release the lock. A writer killed mid-write
//! leaves `seq` odd and `generation` unchanged: readers keep what they had (the change never
//! completed) and the next writer takes the lock over and writes a whole new state.
//!
//! The seqlock itself is [`Seqlock`], generic over its word count so the loom model
//! (`tests/loom.rs`) checks the very code with a few words. Every access to shared memory is
//! atomic (the data words are `AtomicU64` read and written Relaxed), so a torn read is a value
//! the sequence check rejects, never undefined behaviour.

use crate::sync::{fence_acquire, fence_release, AtomicU64, Ordering};

/// Words under the control block's seqlock.
pub const WORDS: usize = 509;
/// Words before the text (state, pid, time).
const META_WORDS: usize = 3;
/// Most bytes of directives text the control page holds.
pub const TEXT_MAX: usize = (WORDS - META_WORDS) * 8;
/// Bit 63 of word 0: directives are in force (clear: reset, each process uses its own).
const ACTIVE: u64 = 1 << 63;
/// Attempts a reader makes while a write is in progress before it reports [`ControlReadError::Busy`].
const READ_TRIES: u32 = 1000;

/// A seqlock over `N` words in shared memory: one writer at a time (the caller serialises
/// writers), any number of readers that never block the writer.
#[derive(Debug)]
#[repr(C)]
pub struct Seqlock<const N: usize> {
    /// Even: stable; odd: a write is in progress. Each write adds 2 (or, after a writer died
    /// mid-write, 1): `fetch_or(1)` at its start, `+1` at its end.
    seq: AtomicU64,
    /// The protected words.
    words: [AtomicU64; N],
}

impl<const N: usize> Seqlock<N> {
    /// All words zero, sequence 0 (what a zero-filled page is).
    pub fn new() -> Self {
        Seqlock {
            seq: AtomicU64::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Replaces the words. Writers must be serialised by the caller ([`ControlBlock::set`] holds
    /// the write lock); two at once garble the data (readers then see a consistent mix of the
    /// two, never a torn word), they cannot cause undefined behaviour.
    pub fn write(&self, data: &[u64; N]) {
        // SYNC: Relaxed RMW (it reads the latest sequence, even one a dead writer left odd);
        // the Release fence below orders it before the data stores (Boehm's writer).
        let start = self.seq.fetch_or(1, Ordering::Relaxed) | 1;
        // SYNC: Release fence; pairs with the reader's Acquire fence in `read`: a reader that
        // loads any word stored below also sees the odd sequence above, and retries.
        fence_release();
        for (w, v) in self.words.iter().zip(data) {
            // SYNC: Relaxed; published by the Release store of the sequence below.
            w.store(*v, Ordering::Relaxed);
        }
        // SYNC: Release; pairs with the Acquire load of the sequence in `read`: a reader that
        // sees the even value sees every word stored above.
        self.seq.store(start.wrapping_add(1), Ordering::Release);
    }

    /// Copies a consistent snapshot of the words into `out`, trying at most `tries` times while
    /// writes are in progress. Returns the (even) sequence it read at.
    pub fn read(&self, out: &mut [u64; N], tries: u32) -> Result<u64, ControlReadError> {
        for _ in 0..tries.max(1) {
            // SYNC: Acquire; pairs with the Release store that ended the last write.
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                for (o, w) in out.iter_mut().zip(&self.words) {
                    // SYNC: Relaxed; validated by the sequence check below.
                    *o = w.load(Ordering::Relaxed);
                }
                // SYNC: Acquire fence; pairs with the writer's Release fence: if a word above
                // came from a write that started after `s1`, the load below sees its odd
                // sequence (or a later one).
                fence_acquire();
                // SYNC: Relaxed; ordered after the word loads by the fence above.
                let s2 = self.seq.load(Ordering::Relaxed);
                if s1 == s2 {
                    return Ok(s1);
                }
            }
            spin();
        }
        Err(ControlReadError::Busy)
    }
}

impl<const N: usize> Default for Seqlock<N> {
    fn default() -> Self {
        Seqlock::new()
    }
}

/// A spin-wait hint (a yield under loom, so the model checker schedules the writer).
fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// The control page (see the [module docs](self)).
#[derive(Debug)]
#[repr(C)]
pub struct ControlBlock {
    /// Completed changes so far (0: never set). Incremented with Release after each change's
    /// seqlock write; producers load it Relaxed on every call and Acquire on the slow path.
    generation: AtomicU64,
    /// Pid of the writer holding the write lock (0: free). CAS 0 -> pid with Acquire (pairs
    /// with the Release store of 0 that ends a write); a dead holder's pid is CASed over.
    writer: AtomicU64,
    /// The state: see the [module docs](self) for the words' meaning.
    state: Seqlock<WORDS>,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<ControlBlock>() == crate::layout::CONTROL_SIZE as usize);
    assert!(core::mem::offset_of!(ControlBlock, generation) == 0);
    assert!(core::mem::offset_of!(ControlBlock, writer) == 8);
    assert!(core::mem::offset_of!(ControlBlock, state) == 16);
};

/// What the control page says, read under its seqlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlState {
    /// The generation read (0: nothing was ever set).
    pub generation: u64,
    /// The directives in force for every producer (`None`: none; each process uses its own).
    pub directives: Option<String>,
    /// Pid of the last setter (0: never set).
    pub setter_pid: u32,
    /// When it was set (Unix ns; 0: never).
    pub set_unix_ns: u64,
}

/// Why the control page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlReadError {
    /// A write stayed in progress through every attempt (a writer is writing, or died
    /// mid-write: then the next writer repairs it).
    #[error("the control page is being written (or its writer died mid-write)")]
    Busy,
    /// The words are not a valid state (damaged memory).
    #[error("the control page is damaged: {0}")]
    Corrupt(&'static str),
}

/// Why a change could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlWriteError {
    /// The text does not fit the page.
    #[error("directives are {len} bytes; the control page holds at most {max}")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// [`TEXT_MAX`].
        max: usize,
    },
    /// Another living process is writing; try again.
    #[error("process {pid} is changing the control page; try again")]
    Busy {
        /// The writer's pid.
        pid: u32,
    },
}

impl ControlBlock {
    /// A zeroed block (what a new segment's zero-filled control page is), for tests and models.
    pub fn new() -> Self {
        ControlBlock {
            generation: AtomicU64::new(0),
            writer: AtomicU64::new(0),
            state: Seqlock::new(),
        }
    }

    /// The generation, loaded Relaxed: the producers' one hot-path load. Compare it with the
    /// generation last applied; on a difference call [`ControlBlock::read`].
    #[inline(always)]
    pub fn generation_relaxed(&self) -> u64 {
        // SYNC: Relaxed; only a hint that something changed: the slow path (`read`) loads it
        // again with Acquire before it reads the state.
        self.generation.load(Ordering::Relaxed)
    }

    /// Reads the state: the generation (Acquire), then the words under the seqlock.
    pub fn read(&self) -> Result<ControlState, ControlReadError> {
        // SYNC: Acquire; pairs with the Release increment in `set`, so the words read below are
        // those of the change that produced this generation, or of a later one.
        let generation = self.generation.load(Ordering::Acquire);
        if generation == 0 {
            return Ok(ControlState {
                generation,
                directives: None,
                setter_pid: 0,
                set_unix_ns: 0,
            });
        }
        let mut words = [0u64; WORDS];
        self.state.read(&mut words, READ_TRIES)?;
        decode(generation, &words)
    }

    /// Sets (`Some`) or resets (`None`: every process back to its own filter) the directives, as
    /// process `pid` at `unix_ns`. `is_dead(pid)` tells whether a process holding the write
    /// lock is gone (this crate does no I/O). Returns the new generation. The text is stored as
    /// given: check it parses ([`crate::filter::Directives`]) first.
    pub fn set(
        &self,
        directives: Option<&str>,
        pid: u32,
        unix_ns: u64,
        is_dead: impl Fn(u32) -> bool,
    ) -> Result<u64, ControlWriteError> {
        let text = directives.unwrap_or("").as_bytes();
        if text.len() > TEXT_MAX {
            return Err(ControlWriteError::TooLong {
                len: text.len(),
                max: TEXT_MAX,
            });
        }
        self.lock(pid.max(1), is_dead)?;
        let mut words = [0u64; WORDS];
        words[0] = text.len() as u64 | if directives.is_some() { ACTIVE } else { 0 };
        words[1] = pid as u64;
        words[2] = unix_ns;
        for (w, chunk) in words[META_WORDS..].iter_mut().zip(text.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        self.state.write(&words);
        // SYNC: Release; pairs with the Acquire load in `read`: a producer that sees the new
        // generation sees the words written above. Relaxed loads on the hot path only detect it.
        let generation = self.generation.fetch_add(1, Ordering::Release) + 1;
        // SYNC: Release; pairs with the Acquire CAS in `lock` of the next writer.
        self.writer.store(0, Ordering::Release);
        Ok(generation)
    }

    fn lock(&self, pid: u32, is_dead: impl Fn(u32) -> bool) -> Result<(), ControlWriteError> {
        let me = pid as u64;
        let mut expected = 0u64;
        loop {
            // SYNC: Acquire; pairs with the Release store of 0 by the previous writer.
            match self
                .writer
                .compare_exchange(expected, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(0) => expected = 0,
                Err(holder) => {
                    let holder_pid = u32::try_from(holder).unwrap_or(u32::MAX);
                    if holder != me && !is_dead(holder_pid) {
                        return Err(ControlWriteError::Busy { pid: holder_pid });
                    }
                    // A dead holder (or a pid reused by us after a crash): take it over.
                    expected = holder;
                }
            }
        }
    }
}

impl Default for ControlBlock {
    fn default() -> Self {
        ControlBlock::new()
    }
}

/// Decodes the seqlock's words (untrusted: another process wrote them).
fn decode(generation: u64, words: &[u64; WORDS]) -> Result<ControlState, ControlReadError> {
    let len = (words[0] & !ACTIVE) as usize;
    if len > TEXT_MAX {
        return Err(ControlReadError::Corrupt("text length past the page"));
    }
    let directives = if words[0] & ACTIVE != 0 {
        let mut bytes = Vec::with_capacity(len);
        for w in &words[META_WORDS..] {
            bytes.extend_from_slice(&w.to_ne_bytes());
            if bytes.len() >= len {
                break;
            }
        }
        bytes.truncate(len);
        Some(
            String::from_utf8(bytes)
                .map_err(|_| ControlReadError::Corrupt("directives are not UTF-8"))?,
        )
    } else {
        None
    };
    Ok(ControlState {
        generation,
        directives,
        setter_pid: u32::try_from(words[1]).unwrap_or(0),
        set_unix_ns: words[2],
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_new_block_is_generation_zero_with_nothing_set() {
        let c = ControlBlock::new();
        assert_eq!(c.generation_relaxed(), 0);
        let s = c.read().unwrap();
        assert_eq!((s.generation, s.directives, s.setter_pid), (0, None, 0));
    }

    #[test]
    fn set_then_reset_bumps_the_generation_each_time() {
        let c = ControlBlock::new();
        assert_eq!(c.set(Some("info,app::db=trace"), 42, 7, |_| false), Ok(1));
        let s = c.read().unwrap();
        assert_eq!(s.generation, 1);
        assert_eq!(s.directives.as_deref(), Some("info,app::db=trace"));
        assert_eq!((s.setter_pid, s.set_unix_ns), (42, 7));
        assert_eq!(c.set(None, 43, 8, |_| false), Ok(2));
        let s = c.read().unwrap();
        assert_eq!((s.generation, s.directives, s.setter_pid), (2, None, 43));
        // An empty string is a setting (it means `error`), not a reset.
        c.set(Some(""), 44, 9, |_| false).unwrap();
        assert_eq!(c.read().unwrap().directives.as_deref(), Some(""));
    }

    #[test]
    fn the_longest_text_fits_and_one_byte_more_is_refused() {
        let c = ControlBlock::new();
        let long = "a".repeat(TEXT_MAX);
        c.set(Some(&long), 1, 1, |_| false).unwrap();
        assert_eq!(c.read().unwrap().directives.unwrap().len(), TEXT_MAX);
        let too = "a".repeat(TEXT_MAX + 1);
        assert_eq!(
            c.set(Some(&too), 1, 1, |_| false),
            Err(ControlWriteError::TooLong {
                len: TEXT_MAX + 1,
                max: TEXT_MAX
            })
        );
        assert_eq!(c.generation_relaxed(), 1, "a refused change bumps nothing");
    }

    #[test]
    fn a_living_writer_holds_the_lock_and_a_dead_one_is_taken_over() {
        let c = ControlBlock::new();
        // SYNC: Relaxed; single-threaded test.
        c.writer.store(777, Ordering::Relaxed);
        assert_eq!(
            c.set(Some("debug"), 1, 1, |_| false),
            Err(ControlWriteError::Busy { pid: 777 })
        );
        // The holder died mid-write, leaving the sequence odd: the next writer repairs it.
        // SYNC: Relaxed; single-threaded test.
        c.state.seq.store(5, Ordering::Relaxed);
        // SYNC: Relaxed; single-threaded test (an earlier change completed).
        c.generation.store(1, Ordering::Relaxed);
        assert_eq!(c.read(), Err(ControlReadError::Busy));
        assert_eq!(c.set(Some("debug"), 1, 1, |pid| pid == 777), Ok(2));
        assert_eq!(c.read().unwrap().directives.as_deref(), Some("debug"));
        // SYNC: Relaxed; single-threaded test.
        assert_eq!(c.writer.load(Ordering::Relaxed), 0, "released");
    }

    #[test]
    fn damaged_words_are_errors_not_panics() {
        let mut w = [0u64; WORDS];
        w[0] = ACTIVE | (TEXT_MAX as u64 + 1);
        assert!(matches!(decode(1, &w), Err(ControlReadError::Corrupt(_))));
        w[0] = ACTIVE | 2;
        w[META_WORDS] = u64::from_ne_bytes([0xff, 0xfe, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(decode(1, &w), Err(ControlReadError::Corrupt(_))));
        w[0] = u64::MAX;
        assert!(decode(1, &w).is_err());
    }

    #[test]
    fn readers_never_see_a_mix_of_two_writes() {
        let c = ControlBlock::new();
        let texts = [
            "info",
            "debug,app::http=trace",
            "warn,a=off,b=info,c::d=debug",
        ];
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20_000 {
                    c.set(Some(texts[i % 3]), 1, i as u64, |_| false).unwrap();
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut last = 0;
                    for _ in 0..20_000 {
                        match c.read() {
                            Ok(st) => {
                                assert!(st.generation >= last);
                                last = st.generation;
                                if let Some(d) = st.directives {
                                    assert!(texts.contains(&d.as_str()), "{d:?}");
                                }
                            }
                            Err(ControlReadError::Busy) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
            }
        });
    }
}
