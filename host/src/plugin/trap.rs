//! Naming why a call trapped, from wasmtime's error and what the plugin
//! wrote to stderr.

use wasmtime::Trap;

use super::error::TrapReason;
use super::runtime::RuntimeConfig;
use super::sandbox::MemoryCapHit;

/// Why `error` ended a call, given the bytes the plugin wrote to stderr
/// during it.
pub(crate) fn reason(error: &wasmtime::Error, stderr: &[u8], config: &RuntimeConfig) -> TrapReason {
    if let Some(hit) = error.downcast_ref::<MemoryCapHit>() {
        return TrapReason::Memory(hit.limit);
    }

    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => TrapReason::Deadline(config.deadline),
        Some(Trap::StackOverflow) => TrapReason::StackOverflow,
        // Rust and most guests abort after writing their panic to stderr.
        Some(Trap::UnreachableCodeReached) if !stderr.is_empty() => {
            TrapReason::Panic(panic_message(stderr))
        }
        Some(trap) => TrapReason::Other(trap.to_string()),
        None => TrapReason::Other(format!("{error:#}")),
    }
}

/// The message of a Rust panic as the standard library prints it:
///
/// ```text
/// thread '<unnamed>' panicked at src/lib.rs:30:24:
/// misbehave: asked to panic
/// note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
/// ```
///
/// Anything else the guest wrote is returned whole, trimmed.
fn panic_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let Some(start) = text.find("panicked at ") else {
        return text.trim().to_owned();
    };
    let after = &text[start..];
    let message = after.split_once('\n').map_or("", |(_, rest)| rest);
    let message = message.split("\nnote: ").next().unwrap_or(message);
    message.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn keeps_the_message_of_a_rust_panic() {
        let stderr = b"\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nbad input\n\
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(panic_message(stderr), "bad input");
    }

    #[test]
    fn keeps_other_stderr_whole() {
        assert_eq!(panic_message(b" something broke \n"), "something broke");
    }
}
