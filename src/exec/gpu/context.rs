//! The wgpu instance, adapter and device: choosing an adapter, describing it, and the waits and
//! error checks every GPU call goes through. Nothing here knows about graphs or kernels.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::adapters::{device_type_name, enumerate, list_adapters, AdapterSummary, Backend};
use super::kernels::Kernels;
use super::watchdog::Deadline;
use crate::error::{Error, Result};

/// How long any wait on the GPU may take before it is reported as an error.
fn timeout() -> Duration {
    let secs = std::env::var("KEQV_GPU_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

/// An open device on one adapter, plus its pipeline cache. Shared by every executor on it.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    timeout: Duration,
    /// Errors no error scope caught (wgpu would otherwise panic on them).
    uncaptured: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    pub(crate) kernels: Kernels,
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.describe())
            .finish()
    }
}

impl GpuContext {
    /// Opens the best adapter of `backend` (any backend when None) whose name contains
    /// `adapter` (case-insensitive, when given). Hardware adapters come before software ones.
    pub fn open(backend: Option<Backend>, adapter: Option<&str>) -> Result<Self> {
        let backends = backend.map_or(wgpu::Backends::all(), Backend::flags);
        let adapters = enumerate(backends);
        let wanted = adapter.map(str::to_lowercase);
        let chosen = adapters.iter().find(|a| {
            wanted
                .as_ref()
                .is_none_or(|w| a.get_info().name.to_lowercase().contains(w))
        });
        match chosen {
            Some(a) => Self::from_adapter(a),
            None => Err(no_adapter(backend, adapter)),
        }
    }

    /// Opens a device on every adapter of `backend`, in preference order.
    pub fn open_each(backend: Backend) -> Vec<Result<Self>> {
        enumerate(backend.flags())
            .iter()
            .map(Self::from_adapter)
            .collect()
    }

    /// Opens the best hardware (non-CPU) adapter, or returns None when there is none.
    pub fn open_hardware() -> Result<Option<Self>> {
        match enumerate(wgpu::Backends::all())
            .iter()
            .find(|a| a.get_info().device_type != wgpu::DeviceType::Cpu)
        {
            Some(a) => Self::from_adapter(a).map(Some),
            None => Ok(None),
        }
    }

    /// Opens a device on `adapter` with the adapter's own limits.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let limits = adapter.limits();
        let request = adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("keqv"),
            required_features: features,
            required_limits: limits.clone(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        });
        let (device, queue) = pollster::block_on(request).map_err(|e| {
            Error::Device(format!(
                "could not open a device on GPU adapter '{}' ({:?}): {e}; try another adapter or --device cpu",
                info.name, info.backend
            ))
        })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(one_line(&e.to_string()));
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut v) = lost_sink.lock() {
                *v = Some(format!("{reason:?}: {}", one_line(&msg)));
            }
        });
        let kernels = Kernels::new(device.clone());
        Ok(GpuContext {
            device,
            queue,
            limits: limits.clone(),
            features,
            timeout: timeout(),
            uncaptured,
            lost,
            kernels,
            info,
        })
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits) — Vulkan, software".
    pub fn describe(&self) -> String {
        let backend = Backend::of(self.info.backend)
            .map_or_else(|| format!("{:?}", self.info.backend), |b| b.to_string());
        format!(
            "{} — {}, {}",
            self.info.name,
            backend,
            device_type_name(self.info.device_type)
        )
    }

    pub fn summary(&self) -> AdapterSummary {
        AdapterSummary::new(&self.info, &self.limits, self.features)
    }

    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    pub fn backend(&self) -> Option<Backend> {
        Backend::of(self.info.backend)
    }

    /// True for CPU adapters (llvmpipe, lavapipe, WARP, SwiftShader).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// True when the device was opened with subgroup operations and they span at least 8 lanes.
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP) && self.info.subgroup_min_size >= 8
    }

    /// Runs `f` inside out-of-memory and validation error scopes; an error becomes
    /// `Error::Device` naming `what`.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        // On a lost device every call fails validation: the loss is the error to report.
        self.check_lost()?;
        match oom.or(validation) {
            Some(e) => Err(scope_error(&self.info.name, &e, what)),
            None => Ok(value),
        }
    }

    fn check_lost(&self) -> Result<()> {
        // wgpu reports a loss from its maintenance pass: let one run.
        let _ = self.device.poll(wgpu::PollType::Poll);
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(msg) => Err(Error::Device(format!(
                "the GPU device '{}' was lost ({msg}); rerun, or use --device cpu",
                self.info.name
            ))),
            None => Ok(()),
        }
    }

    /// Fails if the device was lost or reported an error outside any scope.
    pub(crate) fn check_health(&self) -> Result<()> {
        self.check_lost()?;
        let errors: Vec<String> = self
            .uncaptured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if let Some(first) = errors.first() {
            return Err(Error::Device(format!(
                "GPU error on '{}': {first}",
                self.info.name
            )));
        }
        Ok(())
    }

    /// Submits `encoder`'s commands, under the watchdog and the error scopes.
    pub(crate) fn submit(
        &self,
        encoder: wgpu::CommandEncoder,
        what: &str,
    ) -> Result<wgpu::SubmissionIndex> {
        let _deadline = self.deadline(what);
        self.scoped(what, || self.queue.submit([encoder.finish()]))
    }

    /// Waits (at most the timeout) until `submission` has finished on the GPU.
    pub(crate) fn wait(&self, submission: wgpu::SubmissionIndex, what: &str) -> Result<()> {
        let _deadline = self.deadline(what);
        let poll = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(self.timeout),
        });
        match poll {
            Ok(_) => self.check_health(),
            Err(wgpu::PollError::Timeout) => Err(self.timed_out(what)),
            Err(e) => {
                self.check_lost()?;
                Err(Error::Device(format!(
                    "waiting for the GPU while {what} failed: {e}"
                )))
            }
        }
    }

    /// Maps `buffer` (MAP_READ) and returns its first `len` floats, waiting at most the timeout.
    pub(crate) fn read_back(
        &self,
        buffer: &wgpu::Buffer,
        len: usize,
        what: &str,
    ) -> Result<Vec<f32>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * 4) as u64;
        let slice = buffer.slice(0..bytes);
        let done: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> =
            Arc::new(Mutex::new(None));
        let flag = done.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            if let Ok(mut d) = flag.lock() {
                *d = Some(r);
            }
        });
        let state = {
            let _deadline = self.deadline(what);
            self.wait_for_map(&done, what)?
        };
        match state {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.check_health()?;
                return Err(Error::Device(format!(
                    "reading results back from '{}' failed while {what}: {e}",
                    self.info.name
                )));
            }
            None => return Err(self.timed_out(what)),
        }
        let data = {
            let view = slice.get_mapped_range().map_err(|e| {
                Error::Device(format!("reading results back from the GPU failed: {e}"))
            })?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        buffer.unmap();
        self.check_health()?;
        Ok(data)
    }

    /// Polls until the map callback in `done` has run, within the timeout. A poll can return
    /// before the callback runs when another thread sharing the device polled the completion
    /// first and is still calling it back: then polling again is the wait.
    fn wait_for_map(
        &self,
        done: &Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>,
        what: &str,
    ) -> Result<Option<std::result::Result<(), wgpu::BufferAsyncError>>> {
        let start = std::time::Instant::now();
        loop {
            let poll = self.device.poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(self.timeout),
            });
            if let Err(e) = poll {
                self.check_lost()?;
                return Err(match e {
                    wgpu::PollError::Timeout => self.timed_out(what),
                    e => Error::Device(format!("waiting for the GPU while {what} failed: {e}")),
                });
            }
            let state = done.lock().ok().and_then(|mut d| d.take());
            if state.is_some() || start.elapsed() >= self.timeout {
                return Ok(state);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Ends the process if a GPU call made while it lives outlasts the timeout: the backstop for
    /// calls wgpu cannot bound itself (GL waits, submits). The margin lets wgpu's own timeout,
    /// which returns an error, win where it works.
    pub(crate) fn deadline(&self, what: &str) -> Deadline {
        let after = self.timeout.mul_f64(1.25) + Duration::from_millis(100);
        Deadline::arm(after, self.timed_out(what).to_string())
    }

    fn timed_out(&self, what: &str) -> Error {
        Error::Device(format!(
            "the GPU '{}' did not finish within {} while {what}; raise KEQV_GPU_TIMEOUT_SECS or use --device cpu",
            self.info.name,
            seconds(self.timeout)
        ))
    }
}

/// The one-line error for a wgpu error caught on adapter `name` while `what`.
fn scope_error(name: &str, e: &wgpu::Error, what: &str) -> Error {
    let detail = one_line(&e.to_string());
    Error::Device(match e {
        wgpu::Error::OutOfMemory { .. } => format!(
            "the GPU '{name}' ran out of memory while {what} ({detail}); use a smaller --batch, lower KEQV_GPU_MEMORY_MB, or --device cpu"
        ),
        _ => format!(
            "GPU error while {what} on '{name}': {detail}; this is a keqv bug, please report it (--device cpu works around it)"
        ),
    })
}

/// "60 s", "0.5 s", "0.000001 s": as many digits as the setting has.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn no_adapter(backend: Option<Backend>, name: Option<&str>) -> Error {
    let what = match (backend, name) {
        (Some(b), Some(n)) => format!("no {b} GPU adapter whose name contains '{n}'"),
        (Some(b), None) => format!("no {b} GPU adapter"),
        (None, Some(n)) => format!("no GPU adapter whose name contains '{n}'"),
        (None, None) => "no GPU adapter".to_string(),
    };
    let all = list_adapters();
    let available = if all.is_empty() {
        "none found (on Linux, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers)"
            .to_string()
    } else {
        all.iter()
            .map(|a| format!("{} ({})", a.name, a.backend))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Error::Device(format!(
        "{what}; available: {available}; see `keqv adapters`, or use --device cpu"
    ))
}

/// Keeps the first line of a (possibly multi-line) wgpu message.
pub(crate) fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ").chars().take(400).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A driver's out-of-memory cannot be provoked safely on a shared machine; its mapping can.
    #[test]
    fn out_of_memory_says_what_to_do_in_one_line() {
        let e = wgpu::Error::OutOfMemory {
            source: Box::new(std::io::Error::other(
                "vkAllocateMemory failed\nsecond line",
            )),
        };
        let msg = scope_error("Some GPU", &e, "allocating GPU buffers").to_string();
        assert!(
            msg.starts_with("the GPU 'Some GPU' ran out of memory while allocating GPU buffers")
        );
        assert!(
            msg.contains("--batch") && msg.contains("--device cpu"),
            "{msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }

    #[test]
    fn timeouts_keep_the_digits_of_the_setting() {
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(Duration::from_micros(1)), "0.000001 s");
    }
}
