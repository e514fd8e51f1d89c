#!/usr/bin/env bats
# Exercise 5 of chapter 06, "List the clients": a request type, CLIENTS (16, no arguments),
# answered OK with one line per connection, "fd=N idle_ms=N request_ms=N": how long since
# a byte moved on it, and how long its half-sent request has been arriving. Step 06 knows
# no type 16 and answers ERROR: there the test fails, as it should.

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
    KV_SERVER_FLAGS="--idle-timeout 10" start_server
}

teardown() {
    close_clients
    stop_server
}

@test "CLIENTS lists every connection with its idle time and the age of its pending request" {
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" 0002 0000 # a SET, half of its key length
    sleep 1.2
    run kv raw --hex <<<0010
    # kv raw prints the payload quoted, with \n for each line's end.
    local lines
    lines=$(printf '%s\n' "$output" | head -1 | tr -d '"' | sed 's/\\n/\n/g' | grep -v '^$') ||
        fail "expected a list of connections, got:" "$output"
    [ "$(grep -c '^fd=[0-9]* idle_ms=[0-9]* request_ms=[0-9]*$' <<<"$lines")" -eq 2 ] ||
        fail "expected two lines 'fd=N idle_ms=N request_ms=N' (the stalled client and the" \
            "asking one), got:" "$output"
    awk '{ split($3, r, "="); if (r[2] >= 1000 && r[2] <= 5000) found = 1 }
         END { exit !found }' <<<"$lines" ||
        fail "expected the stalled client's request_ms between 1000 and 5000, got:" "$lines"
    awk '{ split($2, i, "="); split($3, r, "="); if (i[2] < 500 && r[2] == 0) found = 1 }
         END { exit !found }' <<<"$lines" ||
        fail "expected the asking connection with idle_ms under 500 and request_ms 0, got:" \
            "$lines"
}
