#!/usr/bin/env bats
# Exercise 2 of chapter 09, "GETDEL": GET's reply, then the key is gone. A 4 MiB value is
# queued by reference, so the test also checks that it arrives whole after the delete.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_redis
    stop_server
}

@test "GETDEL answers as Redis 7 does: the value, then nil, and the key is gone" {
    start_redis
    expect_like_redis 'SET a 1 EX 100\r\nGETDEL a\r\nGETDEL a\r\nEXISTS a\r\nGETDEL missing\r\nGETDEL\r\nGETDEL a b\r\nQUIT\r\n'
}

@test "GETDEL of a 4 MiB value sends it whole, though the key is deleted at once" {
    run "$PYTHON3" - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
v = bytes(range(256)) * (4 << 12)
s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(v), v) +
          b"*2\r\n$6\r\nGETDEL\r\n$3\r\nbig\r\n*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1\r\nx\r\n"
          b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
want = b"+OK\r\n$%d\r\n%s\r\n+OK\r\n$1\r\nx\r\n" % (len(v), v)
got = b""
while len(got) < len(want):
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
print("same" if got == want else "differ: %d bytes expected, %d received, starting %r" %
      (len(want), len(got), got[:60]))
PY
    expect_output "same"
}
