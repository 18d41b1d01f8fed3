"""The peak memory of this process, for the import's report and its benchmark."""

import resource


def peak_rss_mb() -> int:
    """Peak resident memory of this process since it started, in MB.

    Linux' VmHWM belongs to the process image, so it starts afresh at exec. getrusage's
    ru_maxrss is kept across fork and exec: a command started by a big parent (the
    bench runner, a shell of Django) would report the parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
