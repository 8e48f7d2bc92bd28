//! Segment files: the race-safe create-or-open, validation and mapping of a ringlog segment,
//! shared by producers (`ringlog`) and the drain (`ringdrain`).
//!
//! A segment is a file (by default `/dev/shm/ringlog-<name>`) holding the header page, the
//! producer and lane tables, the callsite table and the lanes ([`ringlog_wire::layout`]). [`Segment::create_or_open`] lets any
//! number of processes start at once: a creator initialises the segment under a temporary name
//! and `link`s it into place, so no one ever maps a half-initialised segment; the others open
//! and validate what is there. [`Segment::open`] never creates.
//!
//! | type | what it is |
//! |---|---|
//! | [`Segment`] | a mapped, validated segment and its views (lanes, callsites, shared state) |
//! | [`Lane`] | one lane: its owner word, its ring, its checkpoint end |
//! | [`SegmentConfig`] | sizes, permissions and clock for a new segment |
//! | [`OpenError`] | everything that can go wrong, each with a clear message |
//! | [`DrainLease`] | the one right to consume a ring ([`Segment::acquire_drain`]) |
//! | [`reader::Reader`] | the consuming reader, built from the lease |
//!
//! ```
//! use ringlog_segment::{Segment, SegmentConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("demo.ring");
//! let config = SegmentConfig { slot_count: 1024, lanes: 4, ..SegmentConfig::default() };
//! let (seg, created) = Segment::create_or_open(&path, &config).unwrap();
//! assert!(created);
//! assert_eq!(seg.lane_count(), 4);
//! assert_eq!(seg.lane(0).ring().capacity(), 1024);
//! let again = Segment::open(&path, &config).unwrap();
//! assert_eq!(again.header().slot_count, 1024);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

pub mod clock;
pub mod idle;
pub mod lease;
pub mod reader;

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memmap2::{MmapMut, MmapOptions};
use ringlog_wire::callsite::CallsiteTable;
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::control::ControlBlock;
use ringlog_wire::layout::{self, Geometry, LaneHeader, LayoutError, SegmentHeader, SharedState};
use ringlog_wire::ring::{RawSlots, Ring};
use rustix::fs::{Mode, OFlags};

pub use clock::ClockChoice;
pub use idle::Wakeup;
pub use lease::{AlreadyDraining, DrainLease};

/// Directory of segments named without a path.
pub const SHM_DIR: &str = "/dev/shm";
/// Prefix of segments named without a path.
pub const NAME_PREFIX: &str = "ringlog-";

/// Times a lane's cursors may look inconsistent in a row before [`Segment::check_cursors`]
/// calls the lane damaged (a live lane's cursors move between loads).
pub const CURSOR_CHECKS: u32 = 64;

/// Sizes, permissions and clock for a segment this process may create, and how to open one.
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// Bytes per slot (power of two, 64..=65536). Default 64.
    pub slot_size: u32,
    /// Slots in each lane (power of two). Default 2^13 (512 KiB with 64-byte slots).
    pub slot_count: u64,
    /// Lanes (1..=4096): threads that each hold a lane never contend. Default 32 (so the
    /// default segment is 16 MiB of lanes, well inside a container's 64 MiB `/dev/shm`).
    pub lanes: u32,
    /// Producer-table entries (processes attached at once). Default 4096.
    pub producer_slots: u32,
    /// Bytes of the callsite table (multiple of 4096). Default 1 MiB.
    pub callsite_bytes: u64,
    /// Callsite index slots (power of two). Default 8192.
    pub callsite_index_slots: u32,
    /// Most slots a record may span (1..=15). Default 15.
    pub max_span: u32,
    /// File mode of a new segment. Default 0o600.
    pub mode: u32,
    /// Clock for a new segment.
    pub clock: ClockChoice,
    /// Group to give a new segment (with a group-readable/writable `mode` such as 0o660, lets
    /// services of several users share a ring). Default: the creator's group.
    pub group: Option<u32>,
    /// Open segments owned by another user. Default false (refused).
    pub allow_foreign_owner: bool,
    /// How long to wait for a segment that is not yet initialised. Default 2 s.
    pub open_timeout: Duration,
    /// Reserve the segment's memory up front (`fallocate`), so a full `/dev/shm` is an error now
    /// rather than a SIGBUS later. Default true.
    pub preallocate: bool,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            slot_size: 64,
            slot_count: 1 << 13,
            lanes: 32,
            producer_slots: 4096,
            callsite_bytes: 1 << 20,
            callsite_index_slots: 8192,
            max_span: 15,
            mode: 0o600,
            clock: ClockChoice::Auto,
            group: None,
            allow_foreign_owner: false,
            open_timeout: Duration::from_secs(2),
            preallocate: true,
        }
    }
}

impl SegmentConfig {
    fn geometry(&self) -> Geometry {
        Geometry {
            slot_size: self.slot_size,
            slot_count: self.slot_count,
            lane_count: self.lanes,
            producer_slots: self.producer_slots,
            callsite_size: self.callsite_bytes,
            callsite_index_slots: self.callsite_index_slots,
            max_span: self.max_span.min((self.slot_count / 2).max(1) as u32),
        }
    }
}

/// Why a segment could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A segment name that is not a plain name.
    #[error("invalid segment name {0:?}: use letters, digits, '-', '_' or '.', or give a path")]
    InvalidName(String),
    /// The segment does not exist (and we were not asked to create it).
    #[error("no segment at {0}")]
    NotFound(PathBuf),
    /// The directory for the segment does not exist.
    #[error("directory {0} does not exist")]
    NoDirectory(PathBuf),
    /// The path is a symbolic link (refused: it could point anywhere).
    #[error("{0} is a symbolic link; refusing to open it as a segment")]
    Symlink(PathBuf),
    /// The path is not a regular file.
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    /// Owned by another user.
    #[error("{path} is owned by uid {owner}, not by us (uid {me}); refusing unless allowed")]
    ForeignOwner {
        /// The segment.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// The bytes are not a usable segment.
    #[error("{path}: {source}")]
    Layout {
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: LayoutError,
    },
    /// A lane's cursors contradict each other (damaged lane table).
    #[error("{path}: the cursors of lane {lane} are inconsistent (claim {claim}, read {read}, {slots} slots); the segment is damaged: remove it and let it be recreated")]
    CorruptCursors {
        /// The segment.
        path: PathBuf,
        /// The lane.
        lane: u32,
        /// Claim cursor.
        claim: u64,
        /// Read cursor.
        read: u64,
        /// Ring size.
        slots: u64,
    },
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl OpenError {
    fn io(op: &'static str, path: &Path, e: impl Into<io::Error>) -> Self {
        OpenError::Io {
            op,
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}

/// Turns a segment name or path into a path: anything with a `/` is a path; a plain name `N`
/// means `/dev/shm/ringlog-N`.
pub fn resolve(name_or_path: &str) -> Result<PathBuf, OpenError> {
    if name_or_path.contains('/') {
        return Ok(PathBuf::from(name_or_path));
    }
    let ok = !name_or_path.is_empty()
        && name_or_path != "."
        && name_or_path != ".."
        && name_or_path.len() <= 200
        && name_or_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(OpenError::InvalidName(name_or_path.to_string()));
    }
    Ok(Path::new(SHM_DIR).join(format!("{NAME_PREFIX}{name_or_path}")))
}

/// Whether process `pid` exists (a zombie counts as gone only once reaped). `EPERM` means it
/// exists under another user.
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

/// The start time of process `pid`: field 22 of `/proc/PID/stat`, in clock ticks since boot.
/// `None` if the process is gone or `/proc` cannot tell (not mounted, hidden, unparsable).
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_start_ticks(&stat)
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and `)`, so the fields are counted from the *last*
/// `)`: `state` (field 3) is the first after it, `starttime` the 20th.
fn parse_stat_start_ticks(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The [`layout::process_stamp`] of process `pid` now (0: unknown).
pub fn process_stamp(pid: u32) -> u64 {
    process_start_ticks(pid).map_or(0, |t| layout::process_stamp(pid, t))
}

/// This process's stamp, read from `/proc` once per pid (a forked child reads its own).
pub fn own_stamp() -> u64 {
    static CACHE: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    // SYNC: Relaxed; the cached word is self-describing (its pid is in the high half), so any
    // value read is either ours or recomputed.
    let cached = CACHE.load(Ordering::Relaxed);
    if cached != 0 && (cached >> 32) as u32 == pid {
        return cached;
    }
    let stamp = process_stamp(pid);
    // SYNC: Relaxed; see above.
    CACHE.store(stamp, Ordering::Relaxed);
    stamp
}

/// Whether the process that recorded `stamp` next to `pid` is still alive: `pid` exists
/// ([`pid_alive`]) and, when the stamp is known and names `pid`, the process now running as
/// `pid` started when the stamp says. A stamp of 0 (unknown: written by an older build, or
/// `/proc` could not tell) or one naming another pid (a racing writer's) falls back to the pid
/// alone, and so does a process whose start time `/proc` cannot tell: a doubt always counts
/// as alive, never as dead.
pub fn process_alive(pid: u32, stamp: u64) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    if stamp == 0 || (stamp >> 32) as u32 != pid {
        return true;
    }
    match process_stamp(pid) {
        0 => true,
        now => now == stamp,
    }
}

/// A mapped, validated segment.
#[derive(Debug)]
pub struct Segment {
    map: MmapMut,
    _file: File,
    path: PathBuf,
    header: SegmentHeader,
    /// Each lane's slots in `map`. Private and only lent out for a borrow of the segment (by
    /// [`Segment::lane`]), so the `'static` is never observable: no slot handle outlives `map`.
    lanes: Box<[RawSlots<'static>]>,
}

impl Segment {
    /// Opens the segment at `path`, creating and initialising it with `config`'s sizes if it does
    /// not exist. Returns whether this call created it. Safe against any number of processes
    /// doing the same at once.
    pub fn create_or_open(
        path: &Path,
        config: &SegmentConfig,
    ) -> Result<(Segment, bool), OpenError> {
        // Validate the sizes before touching the file system.
        let header = config
            .geometry()
            .header()
            .map_err(|source| OpenError::Layout {
                path: path.to_path_buf(),
                source,
            })?;
        loop {
            match Segment::open(path, config) {
                Err(OpenError::NotFound(_)) => {}
                other => return other.map(|s| (s, false)),
            }
            match Segment::create(path, config, header)? {
                Some(seg) => return Ok((seg, true)),
                None => continue, // someone else linked theirs first: open it
            }
        }
    }

    /// Opens an existing segment; never creates one.
    pub fn open(path: &Path, config: &SegmentConfig) -> Result<Segment, OpenError> {
        let deadline = Instant::now() + config.open_timeout;
        let fd = match rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                return Err(match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                        OpenError::NoDirectory(dir.to_path_buf())
                    }
                    _ => OpenError::NotFound(path.to_path_buf()),
                })
            }
            Err(rustix::io::Errno::LOOP) => return Err(OpenError::Symlink(path.to_path_buf())),
            Err(e) => return Err(OpenError::io("open", path, e)),
        };
        let file = File::from(fd);
        let st = rustix::fs::fstat(&file).map_err(|e| OpenError::io("stat", path, e))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(OpenError::NotAFile(path.to_path_buf()));
        }
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me && !config.allow_foreign_owner {
            return Err(OpenError::ForeignOwner {
                path: path.to_path_buf(),
                owner: st.st_uid,
                me,
            });
        }
        let layout_err = |source| OpenError::Layout {
            path: path.to_path_buf(),
            source,
        };
        loop {
            let len = rustix::fs::fstat(&file)
                .map_err(|e| OpenError::io("stat", path, e))?
                .st_size as u64;
            if len < layout::HEADER_SIZE {
                return Err(layout_err(LayoutError::TooSmall { len }));
            }
            let mut head = [0u8; layout::SHARED_OFFSET];
            read_exact_at(&file, &mut head).map_err(|e| OpenError::io("read", path, e))?;
            match layout::validate(&head, len) {
                Ok(header) => return Segment::map(file, path, header),
                Err(LayoutError::NotReady) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(layout_err(e)),
            }
        }
    }

    fn map(file: File, path: &Path, header: SegmentHeader) -> Result<Segment, OpenError> {
        // SAFETY: the file is a regular file we opened read-write and validated to be at least
        // `total_size` bytes. Other processes modify the mapping concurrently by design; this
        // crate only accesses it through atomics and raw byte copies, never through references
        // to non-atomic data that another process may write. (A hostile process that truncates
        // the file can still make accesses fault: shared memory cannot protect against that.)
        // No MAP_POPULATE: a process faults in only what it touches (the header page, the
        // tables it reads, and the lanes its threads take, which `Lane::prefault` populates when
        // a thread takes one), so opening a segment costs the same whatever its size.
        let mut map = unsafe {
            MmapOptions::new()
                .len(header.total_size as usize)
                .map_mut(&file)
        }
        .map_err(|e| OpenError::io("mmap", path, e))?;
        // Re-validate from the mapping itself: the header we read via pread must match.
        let mapped = layout::validate(&map[..layout::SHARED_OFFSET], header.total_size).map_err(
            |source| OpenError::Layout {
                path: path.to_path_buf(),
                source,
            },
        )?;
        if mapped != header {
            return Err(OpenError::Layout {
                path: path.to_path_buf(),
                source: LayoutError::BadGeometry("header changed while opening"),
            });
        }
        let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
        let lanes = (0..header.lane_count as u64)
            .map(|i| {
                // SAFETY: lane i's slots [ring_offset + i * stride, + slot_size * slot_count)
                // are inside the mapping (validated: total = ring_offset + lanes * stride and
                // stride >= slot_size * slot_count), page aligned; slot_size is a power of two
                // >= 64 and slot_count a power of two. The mapping lives as long as the
                // `Segment` that owns both (moving the `Segment` does not move the mapping), and
                // the `'static` view is private: `lane()` lends it only for a borrow of the
                // segment.
                unsafe {
                    RawSlots::new(
                        base.add((header.ring_offset + i * header.lane_stride) as usize),
                        header.slot_size as usize,
                        header.slot_count,
                    )
                }
            })
            .collect();
        let seg = Segment {
            map,
            _file: file,
            path: path.to_path_buf(),
            header,
            lanes,
        };
        seg.check_cursors()?;
        Ok(seg)
    }

    /// Checks that `read <= claim <= read + slots` in every lane, which every producer and
    /// drain maintain; a violation means the lane table was damaged.
    ///
    /// A live lane's cursors move while they are loaded (producers claim, the drain releases),
    /// and a checker descheduled between two loads can see a lap or more go by: the claim
    /// cursor is compared with the read cursor loaded before it (the lower bound) and the one
    /// loaded after it (the upper), and a lane is called damaged only when that fails
    /// [`CURSOR_CHECKS`] times in a row. A damaged table fails every time; a busy lane passes
    /// (`reader::tests::a_busy_lanes_cursors_pass_the_open_check`).
    pub fn check_cursors(&self) -> Result<(), OpenError> {
        let slots = self.header.slot_count;
        for i in 0..self.lane_count() {
            let c = &self.lane(i).header().cursors;
            let mut tries = 0;
            loop {
                // SYNC: Acquire on `before` pairs with the drain's Release store of the read
                // cursor: the claims of the slots it freed happen before, so the claim cursor
                // loaded next (kept after by that Acquire) is at least `before`. Acquire on the
                // claim cursor keeps `after` (Relaxed: the same word as `before`, so never
                // below it) after it; `claim <= after + slots` holds once the read cursor the
                // claiming producer saw is visible here, which a Relaxed claim CAS does not
                // order, hence the retries.
                let before = c.read.load(Ordering::Acquire);
                let claim = c.claim.load(Ordering::Acquire);
                let after = c.read.load(Ordering::Relaxed);
                if claim >= before && claim - after.min(claim) <= slots {
                    break;
                }
                tries += 1;
                if tries == CURSOR_CHECKS {
                    return Err(OpenError::CorruptCursors {
                        path: self.path.clone(),
                        lane: i as u32,
                        claim,
                        read: after,
                        slots,
                    });
                }
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Creates and links a new segment; `None` if another process linked one first.
    /// `header` is `config`'s validated geometry (clock fields still zero).
    fn create(
        path: &Path,
        config: &SegmentConfig,
        mut header: SegmentHeader,
    ) -> Result<Option<Segment>, OpenError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(OpenError::NoDirectory(dir));
        }
        let file_name = path
            .file_name()
            .ok_or_else(|| OpenError::InvalidName(path.display().to_string()))?;
        let pid = std::process::id();
        let tmp = dir.join(format!(
            ".{}.tmp.{}.{}",
            file_name.to_string_lossy(),
            pid,
            clock::unix_ns()
        ));
        let mode = Mode::from_raw_mode(config.mode & 0o7777);
        let fd = rustix::fs::open(
            &tmp,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )
        .map_err(|e| OpenError::io("create", &tmp, e))?;
        let cleanup = TmpFile(&tmp);
        // The umask may have narrowed the mode; set exactly what was asked.
        rustix::fs::fchmod(&fd, mode).map_err(|e| OpenError::io("chmod", &tmp, e))?;
        if let Some(gid) = config.group {
            // Give the new file the requested group (before it is linked into place).
            rustix::fs::fchown(&fd, None, Some(rustix::fs::Gid::from_raw(gid)))
                .map_err(|e| OpenError::io("chown", &tmp, e))?;
        }
        let file = File::from(fd);
        file.set_len(header.total_size)
            .map_err(|e| OpenError::io("resize", &tmp, e))?;
        if config.preallocate {
            match rustix::fs::fallocate(
                file.as_fd(),
                rustix::fs::FallocateFlags::empty(),
                0,
                header.total_size,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => {}
                Err(e) => return Err(OpenError::io("reserve space for", &tmp, e)),
            }
        }
        let cal = clock::calibrate(config.clock);
        header.clock_kind = cal.kind as u32;
        header.clock_raw0 = cal.raw0;
        header.clock_unix_ns0 = cal.unix_ns0;
        header.clock_hz = cal.hz;
        header.created_unix_ns = clock::unix_ns();
        header.creator_pid = pid;
        {
            // SAFETY: we created this file (O_EXCL) and sized it; no other process knows its
            // name, so nothing else maps it while we initialise.
            let mut map = unsafe {
                MmapOptions::new()
                    .len(header.total_size as usize)
                    .map_mut(&file)
            }
            .map_err(|e| OpenError::io("mmap", &tmp, e))?;
            map[..layout::SHARED_OFFSET].copy_from_slice(bytemuck::bytes_of(&header));
            let table_base = NonNull::new(
                // SAFETY: callsite_offset + callsite_size <= total_size (geometry checked).
                unsafe { map.as_mut_ptr().add(header.callsite_offset as usize) },
            )
            .expect("non-null");
            // SAFETY: the table region is inside the mapping, 8-aligned (page offset), and the
            // geometry check guaranteed room past the index.
            let table = unsafe {
                CallsiteTable::new(
                    table_base,
                    header.callsite_size as usize,
                    header.callsite_index_slots,
                )
            };
            table.init();
            // SAFETY: offset 12 is the 4-byte aligned `ready` field inside the header.
            let ready = unsafe { &*(map.as_ptr().add(12) as *const AtomicU32) };
            // SYNC: Release; pairs with openers reading the header after `link` publishes the
            // file (and with the Acquire-equivalent of reading a file another process wrote).
            ready.store(layout::READY, Ordering::Release);
        }
        match rustix::fs::link(&tmp, path) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => return Ok(None),
            Err(e) => return Err(OpenError::io("link", path, e)),
        }
        drop(cleanup);
        header.ready = layout::READY;
        Segment::map(file, path, header).map(Some)
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment file's permission bits now (`fstat`).
    pub fn file_mode(&self) -> io::Result<u32> {
        Ok(rustix::fs::fstat(&self._file)?.st_mode & 0o7777)
    }

    /// The permission bits the file has beyond `expected` (0: none). A segment is created
    /// with exactly its configured mode, so extra bits mean someone widened it (or another
    /// creator asked for more): worth a warning, since every process that can write it can
    /// forge or destroy records.
    pub fn mode_beyond(&self, expected: u32) -> io::Result<u32> {
        Ok(self.file_mode()? & 0o777 & !expected)
    }

    /// The validated header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The shared mutable state (cursors, counters, drain state, producers).
    pub fn shared(&self) -> &SharedState {
        // SAFETY: SHARED_OFFSET is 128-aligned in a page-aligned mapping, SharedState fits in
        // the header page (const-asserted in ringlog-wire) and consists only of atomics and
        // padding, which are valid for any bytes another process may have written.
        unsafe { &*(self.map.as_ptr().add(layout::SHARED_OFFSET) as *const SharedState) }
    }

    /// The control page: filter directives set from outside (`ringdrain level`).
    pub fn control(&self) -> &ControlBlock {
        // SAFETY: control_offset is CONTROL_OFFSET (validated), a page-aligned page inside the
        // mapping that is exactly one ControlBlock (const-asserted in ringlog-wire); it holds
        // only atomics, valid for any bytes another process may have written, and lives as
        // long as `self.map`.
        unsafe {
            &*(self.map.as_ptr().add(self.header.control_offset as usize) as *const ControlBlock)
        }
    }

    /// Number of lanes.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Lane `index` (taken modulo the lane count), borrowed from the segment: neither it nor
    /// its ring or slots can outlive the mapping.
    ///
    /// ```compile_fail,E0505
    /// # use ringlog_segment::{Segment, SegmentConfig};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    /// let ring = seg.lane(0).ring();
    /// drop(seg); // error[E0505]: cannot move out of `seg` because it is borrowed
    /// ring.capacity();
    /// ```
    #[inline]
    pub fn lane(&self, index: usize) -> Lane<'_> {
        let n = self.lanes.len();
        // The hot path passes an index in range: a compare, not a division.
        let index = if index < n { index } else { index % n };
        let off =
            self.header.lane_table_offset as usize + index * layout::LANE_HEADER_SIZE as usize;
        // SAFETY: the lane table [lane_table_offset, + lanes * LANE_HEADER_SIZE) is inside the
        // mapping (validated geometry), page aligned, so entry `index` is aligned for
        // LaneHeader (alignment <= 128 divides its size); LaneHeader is only atomics and
        // padding, valid for any bytes another process may have written.
        let header = unsafe { &*(self.map.as_ptr().add(off) as *const LaneHeader) };
        Lane {
            index,
            header,
            slots: &self.lanes[index],
            max_span: self.header.max_span,
            segment: self,
        }
    }

    /// The callsite table.
    pub fn callsites(&self) -> CallsiteTable<'_> {
        let base = NonNull::new(self.map.as_ptr() as *mut u8).expect("non-null");
        // SAFETY: the table region is inside the mapping, page aligned, and its geometry was
        // validated (index slots a power of two, room past the index). The table only uses
        // atomics and bounds-checked copies on it.
        unsafe {
            CallsiteTable::new(
                base.add(self.header.callsite_offset as usize),
                self.header.callsite_size as usize,
                self.header.callsite_index_slots,
            )
        }
    }

    /// The creator's clock calibration.
    pub fn calibration(&self) -> Calibration {
        let h = &self.header;
        let kind = ClockKind::from_u32(h.clock_kind).unwrap_or(ClockKind::Realtime);
        Calibration::new(kind, h.clock_raw0, h.clock_unix_ns0, h.clock_hz)
    }

    /// The clock producers stamp records with.
    pub fn clock_kind(&self) -> ClockKind {
        ClockKind::from_u32(self.header.clock_kind).unwrap_or(ClockKind::Realtime)
    }

    /// The producer table: pids of attached producer processes (0: free entry).
    pub fn producers(&self) -> &[AtomicU32] {
        // SAFETY: the table [producers_offset, + producer_slots * 4) is inside the mapping
        // (validated geometry) and page aligned; AtomicU32 is valid for any bytes.
        unsafe {
            std::slice::from_raw_parts(
                self.map.as_ptr().add(self.header.producers_offset as usize) as *const AtomicU32,
                self.header.producer_slots as usize,
            )
        }
    }

    /// Records this process as a producer (for `stats` and `gc`); idempotent. A process that
    /// finds no room is counted in `producers_unlisted` (and `gc` then refuses to judge the
    /// segment unused).
    pub fn attach_producer(&self, pid: u32) {
        let table = self.producers();
        // SYNC: Relaxed throughout: the table is advisory (stats, gc), not a synchronisation
        // point; gc additionally requires empty lanes before removing anything.
        if table.iter().any(|p| p.load(Ordering::Relaxed) == pid) {
            return;
        }
        // Empty entries first: a dead producer's entry is reused only when none is left, so
        // the drain still finds a producer that died mid-record listed (`may_be_producer`)
        // and reports its record as abandoned rather than as damage.
        for reuse_dead in [false, true] {
            for p in table.iter() {
                let cur = p.load(Ordering::Relaxed);
                let free = cur == 0 || (reuse_dead && !pid_alive(cur));
                if free
                    && p.compare_exchange(cur, pid, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    return;
                }
            }
        }
        // SYNC: Relaxed; a counter read by gc and stats.
        self.shared()
            .counters
            .producers_unlisted
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Removes this process from the producer table.
    pub fn detach_producer(&self, pid: u32) {
        for p in self.producers().iter() {
            // SYNC: Relaxed; advisory table (see attach_producer).
            let _ = p.compare_exchange(pid, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Whether some producer process could not join the producer table (it was full).
    pub fn producers_unlisted(&self) -> u64 {
        // SYNC: Relaxed; a counter.
        self.shared()
            .counters
            .producers_unlisted
            .load(Ordering::Relaxed)
    }

    /// Whether `pid` may own a slot: not pid 0 (no process) or 1 (init never logs here), and
    /// listed in the producer table, which every producer joins before it writes. If some
    /// producer ever found the table full, an unlisted pid may be one that could not join,
    /// so it is given the benefit of the doubt.
    pub fn may_be_producer(&self, pid: u32) -> bool {
        if pid <= 1 {
            return false;
        }
        // SYNC: Relaxed; advisory table (see attach_producer). A producer's own store of its
        // pid happens before its ownership CAS in program order, and the drain reads the slot
        // word (Acquire) that the CAS wrote before asking, so a real owner is found listed.
        self.producers()
            .iter()
            .any(|p| p.load(Ordering::Relaxed) == pid)
            || self.producers_unlisted() > 0
    }

    /// Pids in the producer table that are still alive. The table holds pids only (no room
    /// for start times in version 2), so a listed pid that holds a lane is judged with the
    /// lane's stamp too ([`process_alive`]): a pid reused by a new process does not keep a
    /// dead lane holder listed as alive. Other entries are judged by pid alone.
    pub fn live_producers(&self) -> Vec<u32> {
        let mut stamps = std::collections::HashMap::new();
        for i in 0..self.lane_count() {
            let owner = &self.lane(i).header.owner;
            // SYNC: Acquire / Relaxed as in `Lane::holder_alive`.
            let held = owner.word.load(Ordering::Acquire);
            let stamp = owner.stamp.load(Ordering::Relaxed);
            if held != 0 && (stamp >> 32) as u32 == layout::owner_pid(held) {
                stamps.insert(layout::owner_pid(held), stamp);
            }
        }
        self.producers()
            .iter()
            // SYNC: Relaxed; advisory table.
            .map(|p| p.load(Ordering::Relaxed))
            .filter(|&p| p != 0 && process_alive(p, stamps.get(&p).copied().unwrap_or(0)))
            .collect()
    }

    /// Positions claimed but not yet consumed, over all lanes (for `stats` and `gc`).
    pub fn backlog(&self) -> u64 {
        (0..self.lane_count())
            .map(|i| {
                let c = &self.lane(i).header().cursors;
                // SYNC: Relaxed; a statistic.
                let claim = c.claim.load(Ordering::Relaxed);
                let read = c.read.load(Ordering::Relaxed);
                claim.saturating_sub(read)
            })
            .sum()
    }
}

/// One lane of a segment: a ring of its own, held by one thread at a time (see
/// ARCHITECTURE.md, "Lanes"). Borrowed from its [`Segment`].
#[derive(Debug, Clone, Copy)]
pub struct Lane<'s> {
    index: usize,
    header: &'s LaneHeader,
    slots: &'s RawSlots<'s>,
    max_span: u32,
    segment: &'s Segment,
}

impl<'s> Lane<'s> {
    /// The lane's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The lane's shared words.
    pub fn header(&self) -> &'s LaneHeader {
        self.header
    }

    /// Whether the drain flags this lane as held up by a living producer's uncommitted record
    /// ([`layout::LaneDrainLine::stalled`]): a lane to avoid when choosing one to share.
    #[inline]
    pub fn stalled(&self) -> bool {
        // SYNC: Relaxed; a hint set by the drain, ordering nothing.
        self.header.pending_end.stalled.load(Ordering::Relaxed) != 0
    }

    /// The position of the record the drain holds a fence at in this lane, if any
    /// ([`layout::LaneDrainLine::fence`]: stepped over and reported lost, its owner still
    /// alive); a view of the lane (`ringdrain cat`) steps over it too.
    #[inline]
    pub fn fenced_at(&self) -> Option<u64> {
        // SYNC: Relaxed; a hint for views, ordering nothing (the slot's own word decides
        // what a reader may do with the record).
        self.header
            .pending_end
            .fence
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }

    /// The lane's owner word ([`layout::lane_owner`], 0: free).
    pub fn owner(&self) -> &'s AtomicU64 {
        &self.header.owner
    }

    /// The lane's ring.
    #[inline]
    pub fn ring(&self) -> Ring<'s, RawSlots<'s>> {
        // A producer whose claim the drain revoked and that claims again counts it in the
        // segment's counters, for the drain to take back from its abandoned count.
        Ring::new(&self.header.cursors, self.slots, self.max_span)
            .counting_reclaims(&self.segment.shared().counters.reclaimed)
    }

    /// Takes the lane for thread `tid` of process `pid` if nobody holds it, recording the
    /// holder's process stamp next to the owner word (so the drain can tell the holder from a
    /// later process given the same pid).
    pub fn try_take(&self, pid: u32, tid: u32) -> bool {
        let owner = &self.header.owner;
        // SYNC: Relaxed; a cheap look before the stamp store, so a held lane's stamp is
        // overwritten only in a race (and then only by a stamp naming another pid, which
        // readers ignore, or this process's own).
        if owner.word.load(Ordering::Relaxed) != 0 {
            return false;
        }
        let stamp = if pid == std::process::id() {
            own_stamp()
        } else {
            process_stamp(pid)
        };
        // SYNC: Relaxed; published by the Release of the CAS below.
        owner.stamp.store(stamp, Ordering::Relaxed);
        // SYNC: AcqRel on success: Acquire pairs with the Release store that gave the lane
        // back (`give_back`, or the drain's reclaim), so this holder sees the previous
        // holder's claims; Release publishes our stamp to the drain's Acquire load of the
        // owner word (`Reader`'s reclaim). Relaxed on failure: we then touch nothing else.
        owner
            .word
            .compare_exchange(
                0,
                layout::lane_owner(pid, tid),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The holder's process stamp as it recorded it (0: unknown; see
    /// [`layout::LaneOwner::stamp`]).
    pub fn owner_stamp(&self) -> &'s AtomicU64 {
        &self.header.owner.stamp
    }

    /// Whether the lane's holder is alive, judged by pid and start time ([`process_alive`]);
    /// `None` when the lane is free. Returns the owner word seen, for a reclaim's CAS.
    pub fn holder_alive(&self) -> Option<(u64, u64, bool)> {
        // SYNC: Acquire; pairs with the Release of the holder's owner CAS in `try_take`, so
        // the stamp it stored before is visible (or a later one).
        let held = self.header.owner.word.load(Ordering::Acquire);
        if held == 0 {
            return None;
        }
        // SYNC: Relaxed; ordered after the Acquire above.
        let stamp = self.header.owner.stamp.load(Ordering::Relaxed);
        Some((held, stamp, process_alive(layout::owner_pid(held), stamp)))
    }

    /// Gives the lane back if thread `tid` of process `pid` holds it.
    pub fn give_back(&self, pid: u32, tid: u32) {
        // SYNC: Release; pairs with the Acquire of the next `try_take`. Relaxed on failure:
        // someone else holds it (the drain reclaimed it from a process it judged dead), so it
        // is not ours to give.
        let _ = self.header.owner.compare_exchange(
            layout::lane_owner(pid, tid),
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// Faults the lane's slots in now (writable), so the thread that just took it does not
    /// take a page fault on each new page of its first lap. Best effort: a kernel without
    /// `MADV_POPULATE_WRITE` (before Linux 5.14) faults pages in as they are written.
    pub fn prefault(&self) {
        let h = &self.segment.header;
        let off = h.ring_offset + self.index as u64 * h.lane_stride;
        let _ = self.segment.map.advise_range(
            memmap2::Advice::PopulateWrite,
            off as usize,
            h.lane_stride as usize,
        );
    }
}

struct TmpFile<'a>(&'a Path);

impl Drop for TmpFile<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fn read_exact_at(file: &File, buf: &mut [u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SegmentConfig {
        SegmentConfig {
            slot_count: 256,
            callsite_bytes: 64 * 1024,
            callsite_index_slots: 256,
            ..SegmentConfig::default()
        }
    }

    #[test]
    fn names_resolve_under_dev_shm_and_paths_stay_paths() {
        assert_eq!(resolve("app").unwrap(), Path::new("/dev/shm/ringlog-app"));
        assert_eq!(resolve("./x").unwrap(), Path::new("./x"));
        assert!(matches!(resolve(""), Err(OpenError::InvalidName(_))));
        assert!(matches!(resolve(".."), Err(OpenError::InvalidName(_))));
        assert!(matches!(resolve("a b"), Err(OpenError::InvalidName(_))));
    }

    #[test]
    fn created_segments_are_private_and_reopen_with_the_same_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let (seg, created) = Segment::create_or_open(&path, &small()).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        let (again, created) = Segment::create_or_open(&path, &SegmentConfig::default()).unwrap();
        assert!(!created);
        assert_eq!(again.header(), seg.header());
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Damaged lane cursors (claim below read, or more than a lap ahead of it) are refused at
    /// open, after the retries a live lane may need, naming the lane and both cursors.
    #[test]
    fn a_lane_with_inconsistent_cursors_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let seg = Segment::create_or_open(&path, &small()).unwrap().0;
        let cursors = &seg.lane(1).header().cursors;
        assert!(Segment::open(&path, &small()).is_ok());
        for (claim, read) in [(10, 20), (300, 20)] {
            cursors.claim.store(claim, Ordering::Relaxed);
            cursors.read.store(read, Ordering::Relaxed);
            let e = Segment::open(&path, &small()).unwrap_err();
            assert!(
                matches!(e, OpenError::CorruptCursors { lane: 1, claim: c, read: r, slots: 256, .. } if c == claim && r == read),
                "{e:?}"
            );
        }
        // Exactly a lap ahead is a full lane, not damage.
        cursors.claim.store(276, Ordering::Relaxed);
        assert!(Segment::open(&path, &small()).is_ok());
    }

    #[test]
    fn concurrent_creators_agree_on_one_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race");
        let created: Vec<bool> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| s.spawn(|| Segment::create_or_open(&path, &small()).unwrap().1))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(created.iter().filter(|c| **c).count(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            Segment::open(&missing, &small()),
            Err(OpenError::NotFound(_))
        ));
        let nodir = dir.path().join("no/such/dir/seg");
        let e = Segment::create_or_open(&nodir, &small()).unwrap_err();
        assert!(matches!(e, OpenError::NoDirectory(_)), "{e}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, vec![7u8; 8192]).unwrap();
        let e = Segment::open(&junk, &small()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not a ringlog segment (bad magic)", junk.display())
        );
        let tiny = dir.path().join("tiny");
        std::fs::write(&tiny, b"RINGLOG").unwrap();
        assert!(Segment::open(&tiny, &small())
            .unwrap_err()
            .to_string()
            .contains("too small"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&junk, &link).unwrap();
        assert!(matches!(
            Segment::open(&link, &small()),
            Err(OpenError::Symlink(_))
        ));
        let bad = SegmentConfig {
            slot_size: 100,
            ..small()
        };
        let e = Segment::create_or_open(&dir.path().join("bad"), &bad).unwrap_err();
        assert!(e.to_string().contains("slot size"), "{e}");
    }

    #[test]
    fn a_truncated_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let (seg, _) = Segment::create_or_open(&path, &small()).unwrap();
        let total = seg.header().total_size;
        drop(seg);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(total - 1)
            .unwrap();
        let e = Segment::open(&path, &small()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn stat_start_times_are_read_past_any_command_name() {
        let line = |comm: &str| {
            format!("4242 ({comm}) S 1 4242 4242 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50 18446744073709551615 0 0 0")
        };
        for comm in ["sh", "a b", "x) R 1 2 (y", ") )", "", "a\nb"] {
            assert_eq!(
                parse_stat_start_ticks(line(comm).as_bytes()),
                Some(987654),
                "{comm:?}"
            );
        }
        assert_eq!(parse_stat_start_ticks(b"4242 (sh) S 1 2"), None);
        assert_eq!(parse_stat_start_ticks(b"no parenthesis"), None);
        assert_eq!(
            parse_stat_start_ticks(b"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5"),
            None
        );
        // Real ones: ours and our parent's, stable across reads.
        let me = std::process::id();
        let t = process_start_ticks(me).expect("/proc/self/stat");
        assert_eq!(process_start_ticks(me), Some(t));
        assert_eq!(own_stamp(), layout::process_stamp(me, t));
        assert!(process_alive(me, own_stamp()));
        assert!(process_alive(me, 0), "unknown: the pid alone decides");
        assert!(!process_alive(me, layout::process_stamp(me, t + 1)));
        assert!(
            process_alive(me, layout::process_stamp(me + 1, t + 1)),
            "another pid's stamp says nothing"
        );
        assert_eq!(process_start_ticks(0), None);
    }

    #[test]
    fn the_producer_table_tracks_live_pids() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, _) = Segment::create_or_open(&dir.path().join("p"), &small()).unwrap();
        let me = std::process::id();
        seg.attach_producer(me);
        seg.attach_producer(me);
        assert_eq!(seg.live_producers(), vec![me]);
        seg.detach_producer(me);
        assert!(seg.live_producers().is_empty());
        assert!(pid_alive(me));
        assert!(!pid_alive(0));
    }
}
