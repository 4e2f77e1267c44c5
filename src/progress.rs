//! A progress bar on stderr for runs that take more than a second, and only when stderr is a
//! terminal: pipes, CI logs and JSON on stdout never see it.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes unannounced before its bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// A bar that stays hidden until [`DELAY`] has passed, so quick runs print nothing. Cleared
/// when finished or dropped (a run that fails leaves no bar behind its error).
pub struct Progress {
    bar: ProgressBar,
    /// Dropping the sender tells the thread that would show the bar to stop waiting.
    reveal: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// A bar to `total` (counted in `unit`) on stderr when it is a terminal; a bar that never
    /// draws otherwise.
    pub fn new(total: u64, unit: &str) -> Self {
        if std::io::stderr().is_terminal() {
            Progress::revealed_after(total, unit, DELAY, ProgressDrawTarget::stderr)
        } else {
            Progress {
                bar: ProgressBar::hidden(),
                reveal: None,
            }
        }
    }

    /// A bar drawn to the target `target()` makes once `delay` has passed unless finished by
    /// then.
    pub fn revealed_after(
        total: u64,
        unit: &str,
        delay: Duration,
        target: impl FnOnce() -> ProgressDrawTarget + Send + 'static,
    ) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {{elapsed:>4}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{eta}} left"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        let (send, wait) = mpsc::channel::<()>();
        let shown = bar.clone();
        let thread = std::thread::spawn(move || {
            if wait.recv_timeout(delay) == Err(mpsc::RecvTimeoutError::Timeout) {
                shown.set_draw_target(target());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Progress {
            bar,
            reveal: Some((send, thread)),
        }
    }

    /// `done` of `total` so far (the total may be learnt only once the work has started).
    pub fn set(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    /// Removes the bar (it was only ever shown on a terminal).
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some((send, thread)) = self.reveal.take() {
            drop(send);
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that records what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_run_that_ends_before_the_delay_draws_nothing() {
        let screen = Screen::default();
        let target = screen.clone();
        let progress =
            Progress::revealed_after(10, "samples", Duration::from_secs(3600), move || {
                ProgressDrawTarget::term_like(Box::new(target))
            });
        for done in 1..=10 {
            progress.set(done, 10);
        }
        progress.finish();
        assert_eq!(*screen.0.lock().unwrap(), "");
    }

    #[test]
    fn a_run_past_the_delay_draws_the_bar() {
        let screen = Screen::default();
        let target = screen.clone();
        let progress = Progress::revealed_after(10, "samples", Duration::ZERO, move || {
            ProgressDrawTarget::term_like(Box::new(target))
        });
        // The bar shows once the revealing thread has run: wait for it, not for a time.
        while progress.bar.is_hidden() {
            std::thread::yield_now();
        }
        progress.set(4, 10);
        // The steady tick redraws it; a bound only keeps a broken bar from hanging the test.
        let start = std::time::Instant::now();
        while !screen.0.lock().unwrap().contains("4/10 samples") {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never drawn: {:?}",
                screen.0.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        progress.finish();
    }
}
