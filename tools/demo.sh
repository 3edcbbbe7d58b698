#!/bin/sh
# The embedded default (`make run`): builds the tables from etc/*.txt into
# data/cdb, makes self-signed certificates on the first run, then runs
# vdmaild in the foreground on loopback. Stop it with Ctrl-C (SIGINT).
set -eu
cd "$(dirname "$0")/.."
mkdir -p data/cdb data/tls data/spool data/store
${B:-build}/rel/vdctl cdb build-all etc data/cdb

cert() { # NAME: a self-signed P-256 certificate for NAME
	[ -s "data/tls/$1.pem" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 3650 -subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
		-keyout "data/tls/$1.key" -out "data/tls/$1.pem" 2>/dev/null
	chmod 600 "data/tls/$1.key"
	echo "demo: made a self-signed certificate for $1 in data/tls/"
}
cert mail.example.com
cert example.net

${B:-build}/rel/vdmaild -c etc/vdmaild.conf -t
echo "demo: SMTP on 127.0.0.1:20025 and [::1]:20025; mail lands in data/store/"
exec ${B:-build}/rel/vdmaild -c etc/vdmaild.conf
