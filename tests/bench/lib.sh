# Shell helpers shared by the benchmarks (sourced, never run).
# free_port [ADDR]: a TCP port free on ADDR (default 127.0.0.1; 0.0.0.0 for
# one free on every address). port_up ADDR PORT: a bounded wait (10 s) until
# it accepts. wait_gone PID SECONDS: waits for PID to end, then SIGKILL.

free_port() {
	python3 -c "import socket; s=socket.socket(); s.bind(('${1:-127.0.0.1}',0)); print(s.getsockname()[1])"
}
port_up() {
	for _ in $(seq 1 100); do
		python3 -c "import socket; socket.create_connection(('$1',$2),1).close()" \
			2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
wait_gone() {
	for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}
