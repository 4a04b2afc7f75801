//! Session control: the same commands from terminal keys (raw mode, works over
//! SSH), from a topic (a foot pedal or a speech node publishes a word), and
//! from SIGINT/SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start recording an episode (also ends a reset phase early).
    Start,
    /// Stop and save the episode, marked successful or not.
    Stop { success: bool },
    /// Stop and throw the episode away (re-record it).
    Discard,
    /// End the session (an episode in progress is saved, marked unsuccessful).
    Quit,
}

impl std::str::FromStr for Control {
    type Err = String;

    /// The words accepted on the command topic.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "start" | "record" | "go" => Ok(Control::Start),
            "stop" | "save" | "success" | "done" => Ok(Control::Stop { success: true }),
            "fail" | "failure" | "failed" => Ok(Control::Stop { success: false }),
            "discard" | "redo" | "cancel" | "rerecord" => Ok(Control::Discard),
            "quit" | "exit" | "end" => Ok(Control::Quit),
            other => Err(format!(
                "unknown recorder command {other:?} (start, stop, fail, discard, quit)"
            )),
        }
    }
}

/// The key bindings, for the help line.
pub const KEY_HELP: &str = "[space] start  [s] save  [f] save as failed  [d] discard  [q] quit";

fn key_control(code: crossterm::event::KeyCode, ctrl: bool) -> Option<Control> {
    use crossterm::event::KeyCode::*;
    match code {
        Char('c') if ctrl => Some(Control::Quit),
        Char(' ') | Char('r') => Some(Control::Start),
        Char('s') | Enter => Some(Control::Stop { success: true }),
        Char('f') => Some(Control::Stop { success: false }),
        Char('d') | Backspace => Some(Control::Discard),
        Char('q') | Esc => Some(Control::Quit),
        _ => None,
    }
}

/// Terminal raw mode while alive; restored on drop (also after an error).
pub struct KeyReader {
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KeyReader {
    /// Puts the terminal in raw mode and forwards key presses as controls
    /// (`send` returns false once nobody listens).
    pub fn spawn(send: impl Fn(Control) -> bool + Send + 'static) -> std::io::Result<KeyReader> {
        crossterm::terminal::enable_raw_mode()?;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new().name("recorder-keys".into()).spawn(move || {
            use crossterm::event::{Event, KeyEventKind, KeyModifiers, poll, read};
            while !s.load(Ordering::Relaxed) {
                if !poll(Duration::from_millis(100)).unwrap_or(false) {
                    continue;
                }
                if let Ok(Event::Key(k)) = read() {
                    if k.kind == KeyEventKind::Release {
                        continue;
                    }
                    if let Some(c) = key_control(k.code, k.modifiers.contains(KeyModifiers::CONTROL))
                        && !send(c)
                    {
                        break;
                    }
                }
            }
        })?;
        Ok(KeyReader { stop, thread: Some(thread) })
    }
}

impl Drop for KeyReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM request a clean stop instead of killing the
/// process; poll [`signalled`].
pub fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// True once SIGINT or SIGTERM arrived (after [`install_signal_handlers`]).
pub fn signalled() -> bool {
    SIGNALLED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    #[test]
    fn words_and_keys() {
        assert_eq!("  Start ".parse::<Control>(), Ok(Control::Start));
        assert_eq!("fail".parse::<Control>(), Ok(Control::Stop { success: false }));
        assert_eq!("discard".parse::<Control>(), Ok(Control::Discard));
        assert!("dance".parse::<Control>().is_err());
        assert_eq!(key_control(KeyCode::Char('c'), true), Some(Control::Quit));
        assert_eq!(key_control(KeyCode::Char(' '), false), Some(Control::Start));
        assert_eq!(key_control(KeyCode::Char('x'), false), None);
    }
}
