#!/usr/bin/env bash
# PostgreSQL (db test, trust auth), Redis and NATS with JetStream on their standard
# loopback ports, for the fleet and sink tests.  The machine starts them before a
# session; if one does not answer, try the machine's own start command once, then
# fail with a one-line reason.
set -uo pipefail

answers() {  # host port
    python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() {  # name port
    for _ in $(seq 1 50); do
        answers 127.0.0.1 "$2" && return 0
        sleep 0.2
    done
    return 1
}

start_postgresql() {
    command -v pg_ctlcluster >/dev/null || return 1
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
}
start_redis() {
    command -v redis-server >/dev/null || return 1
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}
start_nats() {
    [ -x /usr/sbin/nats-server ] || return 1
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

failed=0
for entry in postgresql:5432 redis:6379 nats:4222; do
    name=${entry%%:*}
    port=${entry##*:}
    if answers 127.0.0.1 "$port"; then
        echo "services: $name answers on 127.0.0.1:$port"
        continue
    fi
    echo "services: $name does not answer on 127.0.0.1:$port; starting it"
    if "start_$name" >/dev/null 2>&1 && wait_for "$name" "$port"; then
        echo "services: $name started"
    else
        echo "services: $name is not running on 127.0.0.1:$port and could not be started" \
             "(the fleet and sink tests need it)" >&2
        failed=1
    fi
done
exit "$failed"
