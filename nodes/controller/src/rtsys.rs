//! The operating-system side of the RT loop (Linux): scheduling policy, memory
//! locking, CPU pinning, absolute-deadline sleeps on CLOCK_MONOTONIC.

use crate::metrics::LoopMetrics;
use crate::rt::{RtConfig, RtSetup};
use std::sync::atomic::{AtomicBool, Ordering};

/// CLOCK_MONOTONIC in ns. Jitter is always measured on this clock, whatever
/// clock stamps the ticks (sim time would make wake-up latency meaningless).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sleep_until(ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if r != libc::EINTR {
            break;
        }
    }
}

fn errno_text(code: i32) -> String {
    std::io::Error::from_raw_os_error(code).to_string()
}

/// Applies what `cfg` asks for to the calling thread; never fails, but says in
/// `warnings` what was refused (typically EPERM without CAP_SYS_NICE /
/// CAP_IPC_LOCK or an rtprio/memlock ulimit).
pub fn setup_thread(cfg: &RtConfig) -> RtSetup {
    let mut s = RtSetup::default();
    if cfg.lock_memory {
        // SAFETY: plain syscall with constant flags.
        let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if r == 0 {
            s.memory_locked = true;
        } else {
            let e = std::io::Error::last_os_error();
            s.warnings.push(format!(
                "mlockall failed ({e}): page faults may stall ticks; grant CAP_IPC_LOCK or `ulimit -l unlimited` \
                 (docker: --ulimit memlock=-1)"
            ));
        }
    }
    if let Some(cpu) = cfg.cpu {
        // SAFETY: cpu_set_t is plain data; CPU_SET indexes within it (checked below).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if cpu < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(cpu, &mut set);
                let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                if r == 0 {
                    s.pinned = true;
                } else {
                    s.warnings.push(format!(
                        "pinning to CPU {cpu} failed: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            } else {
                s.warnings.push(format!("CPU {cpu} is out of range"));
            }
        }
    }
    if cfg.priority > 0 {
        let param = libc::sched_param {
            sched_priority: cfg.priority.clamp(1, 99),
        };
        // SAFETY: valid param for the calling thread.
        let r =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if r == 0 {
            s.sched_fifo = true;
        } else {
            s.warnings.push(format!(
                "SCHED_FIFO priority {} refused ({}): running as a normal thread, expect worse jitter; grant \
                 CAP_SYS_NICE or an rtprio ulimit (docker: --cap-add=sys_nice --ulimit rtprio=99)",
                cfg.priority,
                errno_text(r)
            ));
        }
    }
    prefault_stack();
    s
}

/// Asks the kernel to keep CPUs out of deep idle states while the returned
/// file is open (PM QoS `/dev/cpu_dma_latency` = 0, as cyclictest does), so a
/// wake-up does not wait for a CPU to leave C-states.
pub fn hold_cpu_dma_latency_zero() -> Option<std::fs::File> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .ok()?;
    f.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(f)
}

/// Touch the stack the loop will use so its pages are resident (and locked).
#[inline(never)]
fn prefault_stack() {
    let mut buf = [0u8; 64 * 1024];
    for i in (0..buf.len()).step_by(4096) {
        buf[i] = 1;
    }
    std::hint::black_box(&buf);
}

/// Sleeps to `spin_ns` before `deadline`, then spins on the clock to it;
/// returns the time it got there.
fn wait_until(deadline: u64, spin_ns: u64) -> u64 {
    sleep_until(deadline.saturating_sub(spin_ns));
    let mut now = monotonic_ns();
    while now < deadline {
        std::hint::spin_loop();
        now = monotonic_ns();
    }
    now
}

/// The periodic loop: wait for an absolute deadline (sleeping, and spinning
/// the last `spin_ns`), run `tick`, record.
/// A tick that ends after the next deadline counts the periods it overran as
/// misses and skips them, so the loop never tries to catch up with a burst.
pub fn run_periodic(
    period_ns: u64,
    spin_ns: u64,
    metrics: &LoopMetrics,
    stop: &AtomicBool,
    mut tick: impl FnMut(),
) {
    let period = period_ns.max(1);
    let mut deadline = monotonic_ns() + period;
    while !stop.load(Ordering::Acquire) {
        let woke = wait_until(deadline, spin_ns);
        metrics.wakeup_latency.record(woke.saturating_sub(deadline));
        tick();
        metrics.ticks.fetch_add(1, Ordering::Relaxed);
        let done = monotonic_ns();
        metrics.compute.record(done - woke);
        deadline += period;
        if done > deadline {
            let missed = (done - deadline) / period + 1;
            metrics.deadline_misses.fetch_add(missed, Ordering::Relaxed);
            deadline += missed * period;
        }
    }
}
