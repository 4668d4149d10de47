"""The memory probe the benchmark children share: ``status(key)`` reads a byte count from
``/proc/self/status`` (``VmRSS:``, ``VmHWM:``); ``reset_peak()`` resets VmHWM to the current RSS.
Pasted at the top of each child's code, since the children are fresh interpreters."""

PRELUDE = """
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


def reset_peak():
    open("/proc/self/clear_refs", "w").write("5")
"""
