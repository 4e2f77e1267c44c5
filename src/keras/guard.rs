//! The HDF5 C library trusts a file's internal structure: some corrupt files (a damaged B-tree,
//! object header or global heap) make it crash, or loop forever, instead of returning an error.
//! While keqv reads an HDF5 file, a [`CrashGuard`] turns
//!
//! - a crash (SIGSEGV, SIGBUS, SIGFPE, SIGABRT) into keqv's usual one-line error and exit code 2,
//!   naming the file; the previous handlers are restored when the last guard is dropped, so
//!   crashes anywhere else are left alone;
//! - a stall into the same: a watchdog thread ends the process when no read step has finished
//!   for `KEQV_HDF5_STALL_SECS` seconds (default 30; each weight read gets extra time for its
//!   size). Reading a Keras file is a sequence of small steps (open, one layer's attributes, one
//!   weight), each far below that.
//!
//! The process must end with `_exit`: the stuck thread holds the HDF5 library's lock, which the
//! library's own exit handlers would wait for. Only async-signal-safe operations run in the
//! signal handler: atomic loads of a message prepared beforehand, `write(2)`, `_exit(2)`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Keeps the crash handlers and the watchdog armed while it lives.
pub struct CrashGuard {
    id: u64,
}

impl CrashGuard {
    /// Arms the crash handlers and the watchdog, with messages that name `path`. Guards may
    /// nest and may live on several threads; the newest one names the file.
    pub fn new(path: &Path) -> CrashGuard {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let crash = format!(
            "keqv: error: {}: the HDF5 library crashed while reading it; the file is corrupt: copy it again or re-save the model\n",
            path.display()
        );
        let stall = format!(
            "keqv: error: {}: the HDF5 library made no progress reading it for {} s (a corrupt file can make it loop); the file is corrupt: copy it again or re-save the model\n",
            path.display(),
            stall_limit().as_secs()
        );
        let mut state = state();
        if state.guards.is_empty() {
            state.saved = Some(imp::install());
        }
        set_crash_message(&crash);
        state.guards.push(Entry { id, crash, stall });
        drop(state);
        ARMED.store(true as u8, Ordering::SeqCst);
        progress(0);
        start_watchdog();
        CrashGuard { id }
    }
}

impl Drop for CrashGuard {
    fn drop(&mut self) {
        let mut state = state();
        state.guards.retain(|e| e.id != self.id);
        match state.guards.last() {
            Some(top) => {
                set_crash_message(&top.crash);
                drop(state);
                progress(0);
            }
            None => {
                ARMED.store(false as u8, Ordering::SeqCst);
                DEADLINE_MS.store(0, Ordering::SeqCst);
                if let Some(saved) = state.saved.take() {
                    imp::restore(saved);
                }
            }
        }
    }
}

/// A read step finished: the next one gets the full stall limit, plus time for `bytes` of bulk
/// data (at a pessimistic 10 MB/s). Does nothing unless a guard is alive.
pub fn progress(bytes: u64) {
    if ARMED.load(Ordering::SeqCst) == 0 {
        return;
    }
    let limit = stall_limit() + Duration::from_millis(bytes / 10_000);
    let deadline = elapsed_ms().saturating_add(limit.as_millis() as u64).max(1);
    DEADLINE_MS.store(deadline, Ordering::SeqCst);
}

struct Entry {
    id: u64,
    crash: String,
    stall: String,
}

#[derive(Default)]
struct State {
    guards: Vec<Entry>,
    saved: Option<imp::Saved>,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Whether a guard is alive (0 or 1).
static ARMED: AtomicU8 = AtomicU8::new(0);
/// Milliseconds since [`epoch`] after which the watchdog fires; 0 when disarmed.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);

/// The crash message, readable from a signal handler.
const MESSAGE_CAPACITY: usize = 4096;
static MESSAGE: [AtomicU8; MESSAGE_CAPACITY] = [const { AtomicU8::new(0) }; MESSAGE_CAPACITY];
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);

fn set_crash_message(text: &str) {
    let bytes = &text.as_bytes()[..text.len().min(MESSAGE_CAPACITY)];
    MESSAGE_LEN.store(0, Ordering::SeqCst);
    for (slot, &b) in MESSAGE.iter().zip(bytes) {
        slot.store(b, Ordering::Relaxed);
    }
    MESSAGE_LEN.store(bytes.len(), Ordering::SeqCst);
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn elapsed_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

fn stall_limit() -> Duration {
    static LIMIT: OnceLock<Duration> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let secs = std::env::var("KEQV_HDF5_STALL_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .unwrap_or(30);
        Duration::from_secs(secs)
    })
}

fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        epoch();
        // Without the thread keqv still works; it only loses the stall check.
        let _ = std::thread::Builder::new()
            .name("keqv-hdf5-watchdog".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(100));
                let deadline = DEADLINE_MS.load(Ordering::SeqCst);
                if deadline != 0 && elapsed_ms() > deadline {
                    let message = state().guards.last().map(|e| e.stall.clone());
                    if let Some(message) = message {
                        exit_now(&message);
                    }
                }
            });
    });
}

/// Writes `message` to stderr and ends the process at once, with exit code 2.
pub(crate) fn exit_now(message: &str) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
    imp::exit_immediately(2)
}

#[cfg(unix)]
mod imp {
    use std::sync::atomic::Ordering;

    use super::{MESSAGE, MESSAGE_CAPACITY, MESSAGE_LEN};

    const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGABRT];

    /// The actions that were in place before the first guard (flags included: Rust's own
    /// stack-overflow handler uses SA_SIGINFO and SA_ONSTACK).
    pub struct Saved([Option<libc::sigaction>; 4]);

    pub fn exit_immediately(code: libc::c_int) -> ! {
        // SAFETY: ends the process without running exit handlers.
        unsafe { libc::_exit(code) }
    }

    extern "C" fn on_crash(_signum: libc::c_int) {
        let mut buffer = [0u8; MESSAGE_CAPACITY];
        let len = MESSAGE_LEN.load(Ordering::SeqCst).min(MESSAGE_CAPACITY);
        for (b, slot) in buffer.iter_mut().zip(MESSAGE.iter()).take(len) {
            *b = slot.load(Ordering::Relaxed);
        }
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(2, buffer.as_ptr().cast(), len);
            libc::_exit(2);
        }
    }

    pub fn install() -> Saved {
        let handler = on_crash as extern "C" fn(libc::c_int) as libc::sighandler_t;
        Saved(SIGNALS.map(|s| {
            // SAFETY: reads the current action, then installs a handler that only does
            // async-signal-safe work.
            unsafe {
                let mut saved: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(s, std::ptr::null(), &mut saved) != 0 {
                    return None;
                }
                libc::signal(s, handler);
                Some(saved)
            }
        }))
    }

    pub fn restore(saved: Saved) {
        for (s, previous) in SIGNALS.iter().zip(saved.0) {
            if let Some(action) = previous {
                // SAFETY: puts back the action read by `install`.
                unsafe { libc::sigaction(*s, &action, std::ptr::null_mut()) };
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// Crash handling is Unix-only; elsewhere only the watchdog runs.
    pub struct Saved;

    pub fn install() -> Saved {
        Saved
    }

    pub fn restore(_: Saved) {}

    pub fn exit_immediately(code: i32) -> ! {
        std::process::exit(code)
    }
}
