"""A harvest killed with SIGKILL while parse workers run: the workers die with it and none of
them keeps the harvest lock, so the next harvest starts."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SLOW_PARSER = '''
import os, time
def slow_piece(data, name, first_record):
    with open(os.environ["PIDS_FILE"], "a") as pids:
        pids.write(f"{os.getpid()}\\n")
    time.sleep(120)
    return []
'''

PARENT = '''
import io, sys
from pathlib import Path
from harvest import chunked
from harvest.runs import harvest_lock
from slow_parser import slow_piece
chunked.PARALLEL_AFTER = 2
data = b"<Set>" + b"<R>x</R>" * 20_000 + b"</Set>"
with harvest_lock(Path(sys.argv[1])):
    pieces = chunked.split_at_records(io.BytesIO(data), (b"</R>",), b"Set", piece_bytes=10_000)
    for _ in chunked.parse_pieces(pieces, slow_piece, "big", workers=2):
        pass
'''


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state  # a zombie is dead, waiting for init to reap it


def test_sigkill_of_a_harvest_leaves_no_worker_and_no_lock(tmp_path):
    (tmp_path / "slow_parser.py").write_text(SLOW_PARSER)
    pids_file = tmp_path / "pids"
    pids_file.touch()
    db_path = tmp_path / "corpus.db"
    env = {**os.environ, "PIDS_FILE": str(pids_file),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])])}
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PARENT), str(db_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            workers = [int(p) for p in pids_file.read_text().split()]
            if len(workers) >= 2 or parent.poll() is not None:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, parent.stdout.read().decode() if parent.poll() is not None else "no workers"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        for _ in range(100):
            if not any(alive(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "parse workers outlived the killed harvest"
        with open(f"{db_path}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anything still holds it
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in [int(p) for p in pids_file.read_text().split()]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_inherit_no_open_file(tmp_path):
    """The lock's file descriptor is not among a worker's open files."""
    code = textwrap.dedent('''
        import os, sys
        from pathlib import Path
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        from harvest import chunked
        from harvest.runs import harvest_lock
        def files():
            found = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    found.append(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:
                    pass  # the directory listing's own descriptor, closed by now
            return found
        if __name__ == "__main__":
            with harvest_lock(Path(sys.argv[1])):
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=chunked._worker_start, initargs=(os.getpid(),)) as pool:
                    print("\\n".join(pool.submit(files).result()))
    ''')
    script = tmp_path / "probe.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "corpus.db")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    assert not any(line.endswith("corpus.db.lock") for line in done.stdout.splitlines())
