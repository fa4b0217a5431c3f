"""Times `nabla view`'s first map in a pseudo-terminal (not run by tests).

    python3 Benchmarks/Scripts/first_map.py NABLA_BINARY [view arguments ...]

Starts `NABLA_BINARY view ARGS` on a 160x48 pseudo-terminal, waits until the status line
shows the first mask's density (the map is drawn), and prints the seconds from start to
then, the CPU seconds the process used so far (user + system, all threads: less
sensitive to other work on the machine than the wall time) and the peak resident memory
so far (VmHWM of the process, MB); then presses q.
Work the app starts after the first map (the attention panel's recall) is not counted.
"""
import os
import pty
import re
import select
import signal
import struct
import sys
import time

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover
    raise SystemExit("needs a POSIX pseudo-terminal")


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def cpu_seconds(pid):
    """User plus system CPU seconds of the process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    argv = [sys.argv[1], "view"] + sys.argv[2:]
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    seen = b""
    shown = None
    deadline = start + 1800
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            seen = (seen + chunk)[-200000:]
            if re.search(rb"density\s+[0-9.]+%", seen):
                shown = time.monotonic() - start
                break
    peak = peak_mb(pid)
    cpu = cpu_seconds(pid)
    os.write(fd, b"q")
    end = time.monotonic() + 10
    while time.monotonic() < end:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    if shown is None:
        print("no map shown", file=sys.stderr)
        sys.exit(1)
    print(f"first_map_s={shown:.2f} cpu_s={cpu:.2f} peak_rss_MB={peak}")


if __name__ == "__main__":
    main()
