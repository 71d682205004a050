"""Where did a message go? Replays the list commands of a Redis append-only file.

The rehearsal's Redis writes every command to its AOF (and never rewrites it), so the
whole life of a user's message can be read back: pushed by the producer's script, moved
into a consumer's processing list, acknowledged (its pending entry dropped), re-queued by
a reaper, or deleted. For a user that was acknowledged and never stored, this says
which command made it disappear. Used by the rehearsal when users are lost, and by hand:

    .venv/faults/bin/python faults/aoftrace.py .tmp/faults-RUN/redis/appendonlydir ID...
"""

from __future__ import annotations

import re
import sys
from collections import deque
from pathlib import Path

ID = re.compile(rb'"id":(\d+)[,}]')


def commands(path: Path):
    """The commands of one AOF file, as lists of bytes."""
    data = path.read_bytes()
    i = 0
    while i < len(data):
        if data[i:i + 1] != b"*":
            raise ValueError(f"{path}: not a RESP array at byte {i}")
        j = data.index(b"\r\n", i)
        count = int(data[i + 1:j])
        i = j + 2
        args = []
        for _ in range(count):
            j = data.index(b"\r\n", i)
            size = int(data[i + 1:j])
            i = j + 2
            args.append(data[i:i + size])
            i += size + 2
        yield args


def aof_files(folder: Path) -> list[Path]:
    """The AOF files of a multi-part AOF folder, in the manifest's order (the base only
    when it is itself an AOF, since an RDB base holds no history)."""
    manifest = next(folder.glob("*.manifest"))
    files = []
    for line in manifest.read_text().splitlines():
        parts = line.split()
        name = parts[parts.index("file") + 1]
        if name.endswith(".aof"):
            files.append(folder / name)
    return files


def trace(folder: Path, ids: list[int]) -> dict[int, list[str]]:
    """For each id, what happened to its message(s), command by command."""
    wanted = {str(i).encode() for i in ids}
    lists: dict[bytes, deque[bytes]] = {}
    events: dict[int, list[str]] = {i: [] for i in ids}
    n = 0
    restarts = 0

    def note(message: bytes, what: str) -> None:
        m = ID.search(message)
        if m and m.group(1) in wanted:
            events[int(m.group(1))].append(f"#{n} {what}")

    def push(key: bytes, value: bytes, left: bool) -> None:
        target = lists.setdefault(key, deque())
        target.appendleft(value) if left else target.append(value)

    def pop(key: bytes, left: bool) -> bytes | None:
        source = lists.get(key)
        if not source:
            return None
        return source.popleft() if left else source.pop()

    for path in aof_files(folder):
        for args in commands(path):
            n += 1
            cmd = args[0].upper()
            if cmd == b"SELECT":
                restarts += 1
                continue
            k = args[1] if len(args) > 1 else b""
            if cmd in (b"LPUSH", b"RPUSH"):
                for value in args[2:]:
                    push(k, value, cmd == b"LPUSH")
                    note(value, f"{cmd.decode()} {k.decode()} (Redis start #{restarts})")
            elif cmd in (b"LMOVE", b"RPOPLPUSH"):
                src, dst = args[1], args[2]
                frm, to = (args[3].upper(), args[4].upper()) if cmd == b"LMOVE" else (b"RIGHT", b"LEFT")
                value = pop(src, frm == b"LEFT")
                if value is not None:
                    push(dst, value, to == b"LEFT")
                    note(value, f"moved {src.decode()} -> {dst.decode()} (Redis start #{restarts})")
            elif cmd in (b"LPOP", b"RPOP"):
                count = int(args[2]) if len(args) > 2 else 1
                for _ in range(count):
                    value = pop(k, cmd == b"LPOP")
                    if value is None:
                        break
                    note(value, f"{cmd.decode()} {k.decode()}")
            elif cmd == b"LTRIM":
                target = list(lists.get(k, deque()))
                start, stop = (int(a) for a in args[2:4])
                start, stop = (i if i >= 0 else len(target) + i for i in (start, stop))
                start = max(start, 0)
                kept = target[start:stop + 1]
                for value in target[:start] + target[stop + 1:]:
                    note(value, f"trimmed from {k.decode()} (Redis start #{restarts})")
                lists[k] = deque(kept)
            elif cmd == b"SORT" and b"STORE" in (a.upper() for a in args):
                # The take script: SORT queue BY nosort LIMIT offset count STORE processing.
                upper = [a.upper() for a in args]
                dst = args[upper.index(b"STORE") + 1]
                values = list(lists.get(k, deque()))
                if b"LIMIT" in upper:
                    at = upper.index(b"LIMIT")
                    offset, count = int(args[at + 1]), int(args[at + 2])
                    values = values[offset:offset + count]
                for value in lists.pop(dst, deque()):
                    note(value, f"REPLACED in {dst.decode()} by a SORT ... STORE (Redis start #{restarts})")
                lists[dst] = deque(values)
                for value in values:
                    note(value, f"copied {k.decode()} -> {dst.decode()} (Redis start #{restarts})")
            elif cmd == b"DEL":
                for key in args[1:]:
                    for value in lists.pop(key, deque()):
                        note(value, f"DELETED with the whole list {key.decode()} (Redis start #{restarts})")
            elif cmd == b"LREM":
                target = lists.get(k, deque())
                value = args[3]
                if value in target:
                    target.remove(value)
                    note(value, f"LREM {k.decode()}")
            elif cmd == b"HDEL" and k.endswith(b":pending"):
                for field in args[2:]:
                    if field in wanted:
                        events[int(field)].append(f"#{n} HDEL {k.decode()} (acknowledged)")
    for key, values in lists.items():
        for value in values:
            note(value, f"still in {key.decode()} at the end")
    return events


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    for uid, lines in trace(Path(sys.argv[1]), [int(a) for a in sys.argv[2:]]).items():
        print(f"user {uid}:")
        for line in lines or ["no command mentions it"]:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
