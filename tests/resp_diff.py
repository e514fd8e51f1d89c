#!/usr/bin/python3
"""resp_diff.py - step 09's differential tester: the same RESP bytes to two servers, the
same replies back.

    resp_diff.py diff --ours PORT --ref PORT --seed N [--commands N] [--mode MODE]
                      [--max-value BYTES]
    resp_diff.py raw --port PORT [--quiet SECONDS] BYTES

`diff` sends one seeded, random sequence of commands to the server under test (--ours)
and to a real redis-server (--ref), and requires byte-identical replies. The one
exception is TTL and PTTL: the two servers set a key's expiry a few milliseconds apart,
so their replies are parsed and compared as numbers, within a tolerance. The modes:

    lockstep   one command, one reply from each server, then the next command
    bytes      the whole sequence pipelined; our server gets it one byte per write()
    chunks     the whole sequence pipelined; our server gets it in writes of random
               sizes, some of them a few KiB, with short pauses between some of them

(the reference server always gets the whole sequence in one go). The sequences hold
binary keys and values (CR, LF and NUL inside, empty strings, values up to --max-value),
integers at the edges of 64 bits, SET's options good and bad, wrong numbers of
arguments, unknown commands, inline commands and blank lines. On a mismatch it prints
the seed, the command (escaped), both replies and the commands just before it, and
exits with status 1.

`raw` sends BYTES (Python escapes: \\r, \\n, \\x00 ...) as they are, then prints what
comes back, one line per CRLF-ended piece, escaped, and last "(closed)" if the server
closed the connection, or "(open)" if it was still open after --quiet seconds of
silence.

Python's standard library only, raw sockets: what is tested is the bytes.
"""

import argparse
import random
import socket
import sys
import threading
import time

TIMEOUT = 15.0  # seconds to wait for any one reply before calling it missing

# ---------------------------------------------------------------------------------------
# Escaping bytes for a human
# ---------------------------------------------------------------------------------------


def esc(data, limit=300):
    """data as printable ASCII (\\r, \\n, \\x00 ...), cut to about limit characters."""
    text = data.decode("latin1").encode("unicode_escape").decode("ascii")
    if len(text) > limit:
        text = text[:limit] + "... (%d bytes in all)" % len(data)
    return text


def unesc(text):
    """The bytes a string of Python escapes stands for."""
    return text.encode("latin1").decode("unicode_escape").encode("latin1")


# ---------------------------------------------------------------------------------------
# Reading RESP replies from a socket
# ---------------------------------------------------------------------------------------


class ReplyReader:
    """Splits what a socket sends into whole RESP2 replies, returned as their bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def _more(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("the server closed the connection")
        if self.pos > (1 << 20):
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end + 2])
                self.pos = end + 2
                return line
            self._more()

    def _exactly(self, n):
        while len(self.buf) - self.pos < n:
            self._more()
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def reply(self):
        """One whole reply (an array with all its elements), as bytes."""
        line = self._line()
        kind = line[:1]
        if kind in (b"+", b"-", b":"):
            return line
        if kind == b"$":
            n = int(line[1:-2])
            return line if n < 0 else line + self._exactly(n + 2)
        if kind == b"*":
            n = int(line[1:-2])
            return line + b"".join(self.reply() for _ in range(max(n, 0)))
        raise ValueError("not a RESP reply: " + esc(line))


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# ---------------------------------------------------------------------------------------
# Commands: how they go on the wire
# ---------------------------------------------------------------------------------------


def multibulk(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n" % len(a))
        out.append(a)
        out.append(b"\r\n")
    return b"".join(out)


INLINE_SAFE = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+.:_")


def inline_ok(args):
    """True if args can go as an inline command: words Redis's inline parser keeps as
    they are (no quotes, no spaces, no control bytes) and a first word that cannot be
    mistaken for an array (*) or for Redis's cross-protocol guard (POST, Host:)."""
    if not args or any(not a or not set(a) <= INLINE_SAFE for a in args):
        return False
    return args[0].lower() not in (b"post", b"host:")


class Command:
    """One command: its arguments, its bytes on the wire, and whether a reply is owed."""

    def __init__(self, args, wire=None, replies=1):
        self.args = args
        self.wire = wire if wire is not None else multibulk(args)
        self.replies = replies

    def name(self):
        return self.args[0].upper() if self.args else b""

    def show(self):
        return esc(self.wire, 200)


# ---------------------------------------------------------------------------------------
# Generating random command sequences
# ---------------------------------------------------------------------------------------

KEYS = [b"k", b"key:1", b"key:2", b"n", b"counter", b"", b"a\r\nb", b"\x00", b"\r\n",
        b"\x00\r\n\x00k", b"\xff\xfe", b"sp ace", b"$3", b"*1"]
INLINE_KEYS = [b"k", b"key:1", b"key:2", b"n", b"counter"]

# Integers as strings: Redis's strict parsing (string2ll) accepts the first group only.
GOOD_INTS = [b"0", b"1", b"-1", b"2", b"10", b"-10", b"100", b"4611686018427387904",
             b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
             b"-9223372036854775807", b"1000000"]
BAD_INTS = [b"+1", b" 1", b"1 ", b"007", b"-0", b"00", b"1.5", b"", b"abc", b"0x10",
            b"1e3", b"9223372036854775808", b"-9223372036854775809",
            b"18446744073709551616", b"-", b"1\x00", b"\r\n1"]

EX_GOOD = [b"100", b"1000", b"86400", b"9223372036854"]  # seconds
PX_GOOD = [b"100000", b"3600000", b"9223370000000000000"]  # milliseconds
EX_BAD = [b"0", b"-1", b"9223372036854775", b"9223372036854775807", b"abc", b"+100",
          b"1.5", b""]
PX_BAD = [b"0", b"-100", b"9223372036854775807", b"9223372036854775000", b"007", b"x"]

# Names no Redis 7 command has.
UNKNOWN = [b"FOO", b"GETT", b"SETX", b"NOSUCHCOMMAND", b"kv1", b"X", b"", b"Z" * 150]

# Redis's arity: n means exactly n words with the name, -n at least n.
ARITY = {b"GET": 2, b"SET": -3, b"DEL": -2, b"EXISTS": -2, b"INCR": 2, b"DECR": 2,
         b"INCRBY": 3, b"DECRBY": 3, b"MGET": -2, b"MSET": -3, b"EXPIRE": -3,
         b"PEXPIRE": -3, b"TTL": 2, b"PTTL": 2, b"PERSIST": 2, b"TYPE": 2,
         b"DBSIZE": 1, b"ECHO": 2, b"SELECT": 2, b"CONFIG": -2}


class Generator:
    def __init__(self, seed, max_value):
        self.rng = random.Random(seed)
        self.max_value = max_value

    def pick(self, seq):
        return self.rng.choice(seq)

    def key(self):
        return self.pick(KEYS)

    def keys(self, low, high):
        return [self.key() for _ in range(self.rng.randint(low, high))]

    def int_arg(self):
        return self.pick(GOOD_INTS) if self.rng.random() < 0.6 else self.pick(BAD_INTS)

    def value(self):
        r = self.rng.random()
        if r < 0.25:
            return self.int_arg()
        if r < 0.35:
            return b""
        if r < 0.65:
            n = self.rng.randint(1, 40)
            return bytes(self.rng.choice(b"abcxyz019 -") for _ in range(n))
        if r < 0.97 or self.max_value <= 4096:
            n = self.rng.randint(1, min(600, self.max_value))
            return bytes(self.rng.choice(b"\r\n\x00\xffab$*:+-") for _ in range(n))
        return self.rng.randbytes(self.rng.randint(4096, self.max_value))

    def name(self, name):
        """The command's name, sometimes in lower or mixed case (names ignore case)."""
        r = self.rng.random()
        if r < 0.15:
            return name.lower()
        if r < 0.2:
            return name[:1] + name[1:].lower()
        return name

    def set_options(self):
        opts = []
        for _ in range(self.rng.choice([0, 0, 1, 1, 1, 2, 2, 3])):
            r = self.rng.random()
            if r < 0.25:
                opts += [self.pick([b"EX", b"ex"]), self.pick(EX_GOOD)]
            elif r < 0.45:
                opts += [self.pick([b"PX", b"Px"]), self.pick(PX_GOOD)]
            elif r < 0.6:
                opts.append(self.pick([b"NX", b"nx"]))
            elif r < 0.75:
                opts.append(self.pick([b"XX", b"xX"]))
            elif r < 0.85:
                opts += [b"EX", self.pick(EX_BAD)]
            elif r < 0.92:
                opts += [b"PX", self.pick(PX_BAD)]
            else:
                opts.append(self.pick([b"EX", b"PX", b"FOO", b"KEEPTTLX", b""]))
        return opts

    def wrong_arity(self):
        name = self.pick(sorted(ARITY))
        arity = ARITY[name]
        if arity > 0:
            counts = [c for c in range(1, arity + 3) if c != arity]
        else:
            counts = list(range(1, -arity))
        if name == b"SELECT":
            counts = [1, 3]
        argc = self.pick(counts)
        return [self.name(name)] + [self.key() for _ in range(argc - 1)]

    def args(self):
        """One command's arguments, picked by weight."""
        r = self.rng.random() * 100
        key, n = self.key, self.name
        if r < 10:
            return [n(b"GET"), key()]
        if r < 22:
            return [n(b"SET"), key(), self.value()] + self.set_options()
        if r < 26:
            return [n(b"DEL")] + self.keys(1, 4)
        if r < 30:
            return [n(b"EXISTS")] + self.keys(1, 4)
        if r < 36:
            return [n(self.pick([b"INCR", b"DECR"])), self.pick([b"n", b"counter", key()])]
        if r < 42:
            return [n(self.pick([b"INCRBY", b"DECRBY"])), self.pick([b"n", key()]),
                    self.int_arg()]
        if r < 45:
            return [n(b"MGET")] + self.keys(1, 5)
        if r < 48:
            args = [n(b"MSET")]
            for _ in range(self.rng.randint(1, 3)):
                args += [key(), self.value()]
            return args
        if r < 53:
            ttl = self.pick(EX_GOOD + EX_BAD + [b"-1", b"0"])
            return [n(b"EXPIRE"), key(), ttl]
        if r < 57:
            ttl = self.pick(PX_GOOD + PX_BAD + [b"-1", b"0"])
            return [n(b"PEXPIRE"), key(), ttl]
        if r < 63:
            return [n(self.pick([b"TTL", b"PTTL"])), key()]
        if r < 66:
            return [n(b"PERSIST"), key()]
        if r < 69:
            return [n(b"TYPE"), key()]
        if r < 71:
            return [n(b"DBSIZE")]
        if r < 74:
            return [n(b"PING")] + ([self.value()] if self.rng.random() < 0.5 else [])
        if r < 76:
            return [n(b"ECHO"), self.value()]
        if r < 78:
            return [n(b"SELECT"), self.pick([b"0", b"1", b"15", b"-1", b"abc", b"00"])]
        if r < 80:
            return [n(b"CONFIG"), n(b"GET"),
                    self.pick([b"save", b"appendonly", b"nosuchparameter", b"kv1"])]
        if r < 81:
            return [n(b"CONFIG")] + self.pick([[], [b"GET"]])
        if r < 86:
            words = b"abcdefghijklmnopqrstuvwxyz0123456789"
            extra = [bytes(self.rng.choice(words) for _ in range(self.rng.randint(0, 140)))
                     for _ in range(self.rng.randint(0, 4))]
            return [self.pick(UNKNOWN)] + extra
        if r < 93:
            return self.wrong_arity()
        if r < 94:
            return [n(b"FLUSHALL")]
        return None  # a line that owes no reply

    def command(self):
        args = self.args()
        if args is None:
            blank = self.pick([b"\r\n", b"\n", b"   \r\n", b"*0\r\n", b"*-1\r\n", b"*-7\r\n"])
            return Command([], blank, replies=0)
        if inline_ok(args) and self.rng.random() < 0.3:
            sep = self.pick([b" ", b" ", b"  "])
            lead = self.pick([b"", b"", b" "])
            end = self.pick([b"\r\n", b"\n", b" \r\n"])
            return Command(args, lead + sep.join(args) + end)
        return Command(args)

    def sequence(self, count):
        # FLUSHALL first: each run starts from an empty key space, and its first byte (*)
        # makes the connection a RESP one.
        return [Command([b"FLUSHALL"])] + [self.command() for _ in range(count)]


# ---------------------------------------------------------------------------------------
# Comparing replies
# ---------------------------------------------------------------------------------------

TOLERANCE = {b"TTL": 2, b"PTTL": 2000}  # seconds, milliseconds


def same_reply(cmd, ours, ref):
    if ours == ref:
        return True
    slack = TOLERANCE.get(cmd.name())
    if slack is None or not (ours[:1] == ref[:1] == b":"):
        return False
    a, b = int(ours[1:-2]), int(ref[1:-2])
    return a >= 0 and b >= 0 and abs(a - b) <= slack


def report(seed, mode, cmds, i, ours, ref):
    cmd = cmds[i]
    print("MISMATCH seed %d, mode %s, command #%d: %s" % (seed, mode, i, cmd.show()))
    print("  ours:  %s" % (esc(ours) if ours is not None else "(no reply)"))
    print("  redis: %s" % (esc(ref) if ref is not None else "(no reply)"))
    if i:
        print("  the commands before it:")
        for c in cmds[max(0, i - 6) : i]:
            print("    %s" % c.show())
    print("  rerun: resp_diff.py diff --seed %d --mode %s (same --commands, --max-value)"
          % (seed, mode))


# ---------------------------------------------------------------------------------------
# Sending: one command at a time, or a whole pipeline cut into pieces
# ---------------------------------------------------------------------------------------


def read_one(reader):
    try:
        return reader.reply()
    except (EOFError, OSError, ValueError) as e:
        return None if not isinstance(e, ValueError) else b"(garbage) " + str(e).encode()


def run_lockstep(seed, ours, ref, cmds):
    rd_ours, rd_ref = ReplyReader(ours), ReplyReader(ref)
    probe = Command([b"PING"])
    for i, cmd in enumerate(cmds + [probe]):  # the PING shows no blank line got a reply
        for sock in (ours, ref):
            try:
                sock.sendall(cmd.wire)
            except OSError:  # closed on us: the read below says "(no reply)"
                pass
        for _ in range(cmd.replies):
            a, b = read_one(rd_ours), read_one(rd_ref)
            if a is None or b is None or not same_reply(cmd, a, b):
                report(seed, "lockstep", cmds + [probe], i, a, b)
                return False
    return True


def pieces_bytes(rng, stream):
    return (stream[i : i + 1] for i in range(len(stream)))


def pieces_chunks(rng, stream):
    i = 0
    while i < len(stream):
        n = rng.choice([1, 2, 3, 5, 8, 13, 64, 500, 4096, 65536])
        yield stream[i : i + n]
        i += n


def pipeline(sock, stream, want, pieces, pause):
    """Sends stream in pieces while a thread reads replies; returns the replies read."""
    replies = []

    def read():
        reader = ReplyReader(sock)
        while len(replies) < want:
            r = read_one(reader)
            if r is None:
                return
            replies.append(r)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for piece in pieces:
            sock.sendall(piece)
            pause()
    except OSError:
        pass
    reader.join()
    return replies


def run_pipelined(seed, mode, ours, ref, cmds):
    cmds = cmds + [Command([b"PING"])]
    stream = b"".join(c.wire for c in cmds)
    owner = []  # owner[j]: the command reply j answers
    for i, c in enumerate(cmds):
        owner += [i] * c.replies
    rng = random.Random(seed * 7919 + 1)
    cut = pieces_bytes if mode == "bytes" else pieces_chunks
    if mode == "chunks":
        pause = lambda: rng.random() < 0.02 and time.sleep(0.001)
    else:
        pause = lambda: None
    got_ref = pipeline(ref, stream, len(owner), [stream], lambda: None)
    got_ours = pipeline(ours, stream, len(owner), cut(rng, stream), pause)
    for j, i in enumerate(owner):
        a = got_ours[j] if j < len(got_ours) else None
        b = got_ref[j] if j < len(got_ref) else None
        if a is None or b is None or not same_reply(cmds[i], a, b):
            report(seed, mode, cmds, i, a, b)
            return False
    return True


def diff(opts):
    gen = Generator(opts.seed, opts.max_value)
    if opts.mode == "bytes":
        gen.max_value = min(gen.max_value, 600)  # a million one-byte writes is too slow
    cmds = gen.sequence(opts.commands)
    try:
        ours, ref = connect(opts.ours), connect(opts.ref)
    except OSError as e:
        print("cannot connect: %s" % e)
        return 2
    if opts.mode == "lockstep":
        ok = run_lockstep(opts.seed, ours, ref, cmds)
    else:
        ok = run_pipelined(opts.seed, opts.mode, ours, ref, cmds)
    if ok:
        size = sum(len(c.wire) for c in cmds)
        print("seed %d, mode %s: %d commands (%d bytes), the same replies"
              % (opts.seed, opts.mode, len(cmds), size))
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------
# raw: bytes in, what comes back out
# ---------------------------------------------------------------------------------------


def raw(opts):
    sock = connect(opts.port)
    received = bytearray()
    closed = False
    try:
        sock.sendall(unesc(opts.bytes))
    except OSError:
        pass
    deadline = time.monotonic() + 10
    sock.settimeout(opts.quiet)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:  # a reset: closed too, but say so
            print("(reset)")
            closed = True
            break
        if not chunk:
            closed = True
            break
        received += chunk
    lines = bytes(received).split(b"\r\n")
    for k, line in enumerate(lines):
        if k < len(lines) - 1:
            print(esc(line + b"\r\n", 10**9))
        elif line:
            print(esc(line, 10**9))
    print("(closed)" if closed else "(open)")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    d = sub.add_parser("diff")
    d.add_argument("--ours", type=int, required=True)
    d.add_argument("--ref", type=int, required=True)
    d.add_argument("--seed", type=int, required=True)
    d.add_argument("--commands", type=int, default=500)
    d.add_argument("--mode", choices=["lockstep", "bytes", "chunks"], default="lockstep")
    d.add_argument("--max-value", type=int, default=4 << 20)
    r = sub.add_parser("raw")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--quiet", type=float, default=1.0)
    r.add_argument("bytes")
    opts = p.parse_args()
    return diff(opts) if opts.what == "diff" else raw(opts)


if __name__ == "__main__":
    sys.exit(main())
