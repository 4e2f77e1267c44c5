//! wgpu bounds its waits on Vulkan, Metal and DX12, but not every GPU call returns: GL ignores
//! wait timeouts, and a submit can block inside a driver. A thread stuck inside a driver cannot be
//! interrupted, so a [`Deadline`] armed around such a call ends the process with keqv's one-line
//! error and exit code 2 when the call outlives it (as the HDF5 guard does for a stalled read).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Armed {
    id: u64,
    at: Instant,
    message: String,
}

#[derive(Default)]
struct Watch {
    armed: Mutex<Vec<Armed>>,
    changed: Condvar,
}

/// Ends the process unless it is dropped before its time is up.
pub(crate) struct Deadline {
    id: u64,
}

impl Deadline {
    /// Arms a deadline `after` from now; `message` is the error printed if it passes.
    pub(crate) fn arm(after: Duration, message: String) -> Deadline {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let watch = watch();
        let at = Instant::now() + after;
        lock(watch).push(Armed { id, at, message });
        watch.changed.notify_one();
        Deadline { id }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        let watch = watch();
        lock(watch).retain(|a| a.id != self.id);
        watch.changed.notify_one();
    }
}

fn lock(watch: &Watch) -> std::sync::MutexGuard<'_, Vec<Armed>> {
    watch.armed.lock().unwrap_or_else(|p| p.into_inner())
}

fn watch() -> &'static Watch {
    static WATCH: OnceLock<&'static Watch> = OnceLock::new();
    WATCH.get_or_init(|| {
        let watch: &'static Watch = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("keqv-gpu-watchdog".into())
            .spawn(move || run(watch))
            .expect("spawn the GPU watchdog thread");
        watch
    })
}

fn run(watch: &Watch) -> ! {
    let mut armed = lock(watch);
    loop {
        let now = Instant::now();
        let next = armed
            .iter()
            .min_by_key(|a| a.at)
            .map(|a| (a.at, &a.message));
        armed = match next {
            None => watch.changed.wait(armed).unwrap_or_else(|p| p.into_inner()),
            Some((at, message)) if at <= now => {
                crate::keras::guard::exit_now(&format!("keqv: error: {message}\n"))
            }
            Some((at, _)) => {
                let (guard, _) = watch
                    .changed
                    .wait_timeout(armed, at - now)
                    .unwrap_or_else(|p| p.into_inner());
                guard
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_dropped_in_time_does_nothing() {
        for _ in 0..100 {
            let _d = Deadline::arm(Duration::from_millis(200), "never printed".into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
