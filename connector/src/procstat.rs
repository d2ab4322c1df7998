//! What Linux's `/proc` says of this process: CPU time and peak memory, for the sync's report,
//! its final log line and the benchmarks. Elsewhere every figure reads as zero or `None`.

use std::time::Duration;

/// User + system CPU time of the whole process (`/proc/self/stat`).
pub fn process_cpu_time() -> Duration {
    cpu_time_in("/proc/self/stat")
}

/// User + system CPU time of another process of this machine (`/proc/PID/stat`), such as the
/// standalone emulation a benchmark syncs from.
pub fn process_cpu_time_of(pid: u32) -> Duration {
    cpu_time_in(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time of the calling thread (`/proc/thread-self/stat`).
pub fn thread_cpu_time() -> Duration {
    cpu_time_in("/proc/thread-self/stat")
}

/// `utime + stime` from a `stat` file, in clock ticks of 1/100 s.
fn cpu_time_in(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the parenthesised name; utime and stime are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let mut fields = rest.split_whitespace().skip(11);
    let mut tick = || fields.next().and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = tick() + tick();
    Duration::from_millis(ticks * 10)
}

/// The process's peak resident memory in KiB (`VmHWM` of `/proc/self/status`).
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// [`peak_memory_kib`] in whole MiB, rounded up.
pub fn peak_memory_mib() -> Option<u64> {
    peak_memory_kib().map(|kib| kib.div_ceil(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn figures_are_read_on_linux() {
        let before = super::peak_memory_kib().expect("VmHWM on Linux");
        // Touching a few MiB can only raise the peak.
        let block = vec![1u8; 8 << 20];
        std::hint::black_box(&block);
        let after = super::peak_memory_kib().expect("VmHWM on Linux");
        assert!(before > 0 && after >= before, "{before} then {after}");
        assert!(super::peak_memory_mib().expect("MiB") >= after / 1024);
        // Some CPU was spent getting here; a busy loop adds more, never less.
        let cpu = super::process_cpu_time();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(super::process_cpu_time() >= cpu);
        assert!(super::thread_cpu_time() <= super::process_cpu_time());
        // This process read by its id reads the same as by `self` (ticks of 10 ms apart at most).
        let by_pid = super::process_cpu_time_of(std::process::id());
        let by_self = super::process_cpu_time();
        assert!(by_pid > std::time::Duration::ZERO && by_pid <= by_self);
        assert!(
            by_self - by_pid <= std::time::Duration::from_millis(50),
            "{by_pid:?} vs {by_self:?}"
        );
    }
}
